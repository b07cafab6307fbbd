//! The figures and texts of [`super::dataset::sample_dataset`] at [`super::NOW`], worked
//! out by hand from its rows and written out from the layouts of `docs/figures.md`: what
//! the bot, the channel messages and the command line must show for it, word for word.

use tt_stats::domain::{ChatType, Counters, Period};

/// The seven counters, by hand: chats, music, ┗ unique, videos, ┗ unique, ┗ images,
/// ┗ unique.
pub const COUNTERS: [(ChatType, Period, [i64; 7]); 12] = [
    (ChatType::Users, Period::Day, [5, 6, 4, 13, 7, 5, 5]),
    (ChatType::Users, Period::Week, [9, 8, 5, 17, 8, 7, 5]),
    (ChatType::Users, Period::Month, [11, 10, 7, 20, 9, 8, 6]),
    (ChatType::Users, Period::All, [14, 13, 9, 27, 12, 9, 7]),
    (ChatType::Groups, Period::Day, [1, 1, 1, 4, 2, 2, 2]),
    (ChatType::Groups, Period::Week, [3, 3, 3, 6, 3, 3, 3]),
    (ChatType::Groups, Period::Month, [3, 3, 3, 6, 3, 3, 3]),
    (ChatType::Groups, Period::All, [4, 3, 3, 7, 4, 3, 3]),
    (ChatType::All, Period::Day, [6, 7, 5, 17, 9, 7, 7]),
    (ChatType::All, Period::Week, [12, 11, 8, 23, 11, 10, 8]),
    (ChatType::All, Period::Month, [14, 13, 10, 26, 12, 11, 9]),
    (ChatType::All, Period::All, [18, 16, 12, 34, 16, 12, 10]),
];

/// [`COUNTERS`] of one chat type and period.
pub fn counters(chat: ChatType, period: Period) -> Counters {
    let [
        chats,
        music,
        music_unique,
        videos,
        videos_unique,
        images,
        images_unique,
    ] = COUNTERS
        .iter()
        .find(|(c, p, _)| *c == chat && *p == period)
        .expect("every chat type and period")
        .2;
    Counters {
        chats,
        music,
        music_unique,
        videos,
        videos_unique,
        images,
        images_unique,
    }
}

/// Overall Stats.
pub const OVERALL: &str = "<b>📊Overall Stats</b>
Chats: <b>14</b>
Music: <b>13</b>
┗ Unique: <b>9</b>
Videos: <b>27</b>
┗ Unique: <b>12</b>
┗ Images: <b>9</b>
    ┗ Unique: <b>7</b>

<b>Groups</b>
Chats: <b>4</b>
Music: <b>3</b>
┗ Unique: <b>3</b>
Videos: <b>7</b>
┗ Unique: <b>4</b>
┗ Images: <b>3</b>
    ┗ Unique: <b>3</b>
";

/// Daily Stats.
pub const DAILY: &str = "<b>📊Last 24 Hours</b>
Chats: <b>5</b>
Music: <b>6</b>
┗ Unique: <b>4</b>
Videos: <b>13</b>
┗ Unique: <b>7</b>
┗ Images: <b>5</b>
    ┗ Unique: <b>5</b>

<b>Groups</b>
Chats: <b>1</b>
Music: <b>1</b>
┗ Unique: <b>1</b>
Videos: <b>4</b>
┗ Unique: <b>2</b>
┗ Images: <b>2</b>
    ┗ Unique: <b>2</b>
";

/// Quick Stats: Overall Stats, an empty line, Daily Stats.
pub const QUICK: &str = "<b>📊Overall Stats</b>
Chats: <b>14</b>
Music: <b>13</b>
┗ Unique: <b>9</b>
Videos: <b>27</b>
┗ Unique: <b>12</b>
┗ Images: <b>9</b>
    ┗ Unique: <b>7</b>

<b>Groups</b>
Chats: <b>4</b>
Music: <b>3</b>
┗ Unique: <b>3</b>
Videos: <b>7</b>
┗ Unique: <b>4</b>
┗ Images: <b>3</b>
    ┗ Unique: <b>3</b>

<b>📊Last 24 Hours</b>
Chats: <b>5</b>
Music: <b>6</b>
┗ Unique: <b>4</b>
Videos: <b>13</b>
┗ Unique: <b>7</b>
┗ Images: <b>5</b>
    ┗ Unique: <b>5</b>

<b>Groups</b>
Chats: <b>1</b>
Music: <b>1</b>
┗ Unique: <b>1</b>
Videos: <b>4</b>
┗ Unique: <b>2</b>
┗ Images: <b>2</b>
    ┗ Unique: <b>2</b>
";

/// Quick Stats as `tt-stats report` prints it.
pub const QUICK_PLAIN: &str = "📊Overall Stats
Chats: 14
Music: 13
┗ Unique: 9
Videos: 27
┗ Unique: 12
┗ Images: 9
    ┗ Unique: 7

Groups
Chats: 4
Music: 3
┗ Unique: 3
Videos: 7
┗ Unique: 4
┗ Images: 3
    ┗ Unique: 3

📊Last 24 Hours
Chats: 5
Music: 6
┗ Unique: 4
Videos: 13
┗ Unique: 7
┗ Images: 5
    ┗ Unique: 5

Groups
Chats: 1
Music: 1
┗ Unique: 1
Videos: 4
┗ Unique: 2
┗ Images: 2
    ┗ Unique: 2

";

/// Detailed View: groups, last week.
pub const GROUPS_WEEK: &str = "<b>📋 👥 Groups, last week</b>
Chats: <b>3</b>
Music: <b>3</b>
┗ Unique: <b>3</b>
Videos: <b>6</b>
┗ Unique: <b>3</b>
┗ Images: <b>3</b>
    ┗ Unique: <b>3</b>
";

/// Detailed View: all chats, last month, as `tt-stats report --chat-type all --period
/// month` prints it.
pub const ALL_MONTH_PLAIN: &str = "📋 🌐 All chats, last month
Chats: 14
Music: 13
┗ Unique: 10
Videos: 26
┗ Unique: 12
┗ Images: 11
    ┗ Unique: 9

";

/// Referrals.
pub const REFERRALS: &str = "<b>🗣 Top Referrals</b>
1. <code>ref_a</code>: <b>3</b>
2. <code>ref_b</code>: <b>3</b>
3. <code>ref_c</code>: <b>2</b>
4. <code>r&lt;b&gt;&amp;&quot;x</code>: <b>1</b>";

/// Referrals as `tt-stats referrals` prints them.
pub const REFERRALS_PLAIN: &str = "🗣 Top Referrals
1. ref_a: 3
2. ref_b: 3
3. ref_c: 2
4. r<b>&\"x: 1
";

/// Other Data.
pub const OTHER: &str = "<b>🗃 Other Data</b>
File mode on: <b>5</b>

<b>Languages</b>
en: <b>5</b>
ru: <b>4</b>
es: <b>3</b>
uk: <b>3</b>
unknown: <b>1</b>
de: <b>1</b>
pt-br: <b>1</b>

<b>Top chats by downloads</b>
1. <code>1</code>: <b>7</b>
2. <code>-1001234567890</code>: <b>4</b>
3. <code>5</code>: <b>3</b>
4. <code>2</code>: <b>2</b>
5. <code>4</code>: <b>2</b>
6. <code>6</code>: <b>2</b>
7. <code>7</code>: <b>2</b>
8. <code>9</code>: <b>2</b>
9. <code>10</code>: <b>2</b>
10. <code>424242</code>: <b>2</b>";

/// Other Data as `tt-stats other` prints it.
pub const OTHER_PLAIN: &str = "🗃 Other Data
File mode on: 5

Languages
en: 5
ru: 4
es: 3
uk: 3
unknown: 1
de: 1
pt-br: 1

Top chats by downloads
1. 1: 7
2. -1001234567890: 4
3. 5: 3
4. 2: 2
5. 4: 2
6. 6: 2
7. 7: 2
8. 9: 2
9. 10: 2
10. 424242: 2
";

/// The card of chat 1 (many downloads, a referral, file mode on).
pub const CARD_HEAVY: &str = "<b>👤 User Stats</b>
ID: <code>1</code>
Videos: <b>7</b>
Images: <b>1</b>
Music: <b>3</b>
Language: <b>en</b>
Referral: <code>ref_a</code>
File mode: <b>on</b>
Registered: <b>04.03.2026 13:32:05 UTC</b>";

/// The card of chat 4 (no registration time, no referral).
pub const CARD_NO_REGISTRATION: &str = "<b>👤 User Stats</b>
ID: <code>4</code>
Videos: <b>2</b>
Images: <b>1</b>
Music: <b>1</b>
Language: <b>uk</b>
File mode: <b>on</b>
Registered: <b>unknown</b>";

/// The card of chat 3 (an empty referral link: no Referral line).
pub const CARD_JUST_INSIDE: &str = "<b>👤 User Stats</b>
ID: <code>3</code>
Videos: <b>1</b>
Images: <b>1</b>
Music: <b>0</b>
Language: <b>ru</b>
File mode: <b>off</b>
Registered: <b>03.03.2026 13:32:16 UTC</b>";

/// The card of chat 9 (HTML in the referral link).
pub const CARD_HTML_LINK: &str = "<b>👤 User Stats</b>
ID: <code>9</code>
Videos: <b>2</b>
Images: <b>0</b>
Music: <b>0</b>
Language: <b>en</b>
Referral: <code>r&lt;b&gt;&amp;&quot;x</code>
File mode: <b>off</b>
Registered: <b>01.02.2026 13:32:16 UTC</b>";

/// The card of chat 13 (an empty language).
pub const CARD_NO_LANGUAGE: &str = "<b>👤 User Stats</b>
ID: <code>13</code>
Videos: <b>0</b>
Images: <b>0</b>
Music: <b>0</b>
Language: <b>unknown</b>
File mode: <b>off</b>
Registered: <b>04.03.2026 11:32:15 UTC</b>";

/// The card of chat 5 (image posts only).
pub const CARD_IMAGES_ONLY: &str = "<b>👤 User Stats</b>
ID: <code>5</code>
Videos: <b>3</b>
Images: <b>3</b>
Music: <b>0</b>
Language: <b>en</b>
Referral: <code>ref_b</code>
File mode: <b>off</b>
Registered: <b>01.03.2026 13:32:15 UTC</b>";

/// The card of the group chat.
pub const CARD_GROUP: &str = "<b>👤 User Stats</b>
ID: <code>-1001234567890</code>
Videos: <b>4</b>
Images: <b>1</b>
Music: <b>1</b>
Language: <b>en</b>
File mode: <b>off</b>
Registered: <b>04.03.2026 13:30:35 UTC</b>";

/// The download history of chat 1: oldest first, the two downloads of the same second in
/// `pk_id` order, the one without a time last; the link with a comma and quotes quoted.
pub const HISTORY_HEAVY: &str = "Time,Video
2026-02-23 13:32:15,https://vm.tiktok.com/ZM000006/
2026-03-04 08:32:15,https://vm.tiktok.com/ZM000004/
2026-03-04 13:28:55,https://www.tiktok.com/@someone/photo/7300000000000000005
2026-03-04 13:30:15,https://vm.tiktok.com/ZM000002/
2026-03-04 13:30:15,\"https://vm.tiktok.com/ZMtie,\"\"quoted\"\"/\"
2026-03-04 13:31:15,https://vm.tiktok.com/ZM000001/
,https://vm.tiktok.com/ZM000007/
";

/// Videos drawn on the Month graph (after `NOW - 32 days`, not after `NOW`, chat 0 left
/// out): 19 by people and 6 by groups.
pub const VIDEOS_MONTH_TOTAL: i64 = 25;

/// The chats Botstat gets: every `users` row but chat 0, ascending.
pub const USER_IDS: &str = "-1001234567890
-1004
-1003
-1002
1
2
3
4
5
6
7
8
9
10
11
12
13
9223372036854775807
";
