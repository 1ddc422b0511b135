//! Seconds per stage, for the manifest's `seconds` (and `total`).

use std::collections::BTreeMap;
use std::time::Instant;

pub struct Clock {
    t: BTreeMap<String, f64>,
    start: Instant,
    at: Instant,
}

fn centis(secs: f64) -> f64 {
    (secs * 100.0).round() / 100.0
}

impl Clock {
    pub fn start() -> Clock {
        let now = Instant::now();
        Clock {
            t: BTreeMap::new(),
            start: now,
            at: now,
        }
    }

    /// `stage` ran from the previous mark until now.
    pub fn done(&mut self, stage: &str) {
        let now = Instant::now();
        *self.t.entry(stage.to_string()).or_default() += centis((now - self.at).as_secs_f64());
        self.at = now;
    }

    /// A stage that ran alongside others: its own time, without moving the mark.
    pub fn record(&mut self, stage: &str, secs: f64) {
        *self.t.entry(stage.to_string()).or_default() += centis(secs);
    }

    /// Every stage, and `total` since the start.
    pub fn finish(mut self) -> BTreeMap<String, f64> {
        self.t
            .insert("total".into(), centis(self.start.elapsed().as_secs_f64()));
        self.t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_and_total_covers_them() {
        let mut c = Clock::start();
        std::thread::sleep(std::time::Duration::from_millis(20));
        c.done("a");
        c.done("a");
        c.record("side", 1.234);
        let t = c.finish();
        assert!(t["a"] >= 0.02, "{t:?}");
        assert_eq!(t["side"], 1.23);
        assert!(t["total"] >= t["a"], "{t:?}");
        assert_eq!(t.len(), 3);
    }
}
