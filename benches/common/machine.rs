//! What the benchmarks print about the machine they ran on, so that figures from different
//! machines are not compared by mistake.

/// `"<cores> cores (<CPU model>), PostgreSQL on the same machine"`, from `/proc/cpuinfo`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({cpu}), PostgreSQL on the same machine")
}
