//! A real Prometheus server (the distribution's package) started by a test in a folder of
//! its own on a free port, scraping one target every second; stopped when dropped. Its
//! HTTP API (`/api/v1/query`) is how the test reads back what it scraped.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    /// Where its web API listens on 127.0.0.1.
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// One series of a query's answer: its labels (without `__name__`, which is under the key
/// `__name__` when the query returns several names) and its value.
pub type Sample = (BTreeMap<String, String>, f64);

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`, path `/metrics`) every second and
    /// waits until it is ready. Panics with a message saying how to install it when the
    /// binary is missing.
    pub async fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: tt-stats\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("a log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "Prometheus is required by these tests and cannot be started ({e}); \
                     `bash .ci/run` installs it (apt-get install prometheus)"
                )
            });
        let p = Prometheus { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = reqwest::get(format!("http://127.0.0.1:{port}/-/ready"))
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus was not ready on 127.0.0.1:{port} within 30 s; its log:\n{}",
                p.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        p
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The answer to an instant PromQL query through `/api/v1/query`.
    pub async fn query(&self, promql: &str) -> Vec<Sample> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let body: serde_json::Value = reqwest::Client::new()
            .get(url)
            .query(&[("query", promql)])
            .send()
            .await
            .expect("Prometheus answers")
            .json()
            .await
            .expect("Prometheus answers JSON");
        assert_eq!(body["status"], "success", "query {promql}: {body}");
        body["data"]["result"]
            .as_array()
            .expect("a vector")
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .expect("labels")
                    .iter()
                    .filter(|(k, _)| !["job", "instance"].contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.as_str().expect("a label value").to_string()))
                    .collect();
                let value = s["value"][1]
                    .as_str()
                    .expect("a value")
                    .parse::<f64>()
                    .expect("a number");
                (labels, value)
            })
            .collect()
    }

    /// Waits (up to 30 s) until `promql` has an answer that `done` accepts, and returns it.
    pub async fn wait_for(&self, promql: &str, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.query(promql).await;
            if done(&answer) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus has no acceptable answer to {promql} after 30 s: {answer:?}\nits log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
