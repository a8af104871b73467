//! Prometheus text exposition, read back: series (`name{labels}`, exactly as exposed) to values.

use std::collections::BTreeMap;

/// One scrape.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    series: BTreeMap<String, f64>,
    text: String,
}

impl Metrics {
    /// Parses exposition text; comments and unparsable lines are skipped.
    pub fn parse(text: &str) -> Metrics {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.trim().to_owned(), value.trim().parse().ok()?))
            })
            .collect();
        Metrics { series, text: text.to_owned() }
    }

    /// The value of `series` (e.g. `vigil_dropped_total{reason="malformed"}`), if exposed.
    pub fn get(&self, series: &str) -> Option<f64> {
        self.series.get(series).copied()
    }

    /// The value of `series`; panics with the whole scrape if it is not exposed.
    pub fn value(&self, series: &str) -> f64 {
        self.get(series).unwrap_or_else(|| panic!("no series {series} in:\n{}", self.text))
    }

    /// `vigil_dropped_total{reason="REASON"}`, required.
    pub fn dropped(&self, reason: &str) -> u64 {
        self.value(&format!("vigil_dropped_total{{reason=\"{reason}\"}}")) as u64
    }

    /// `vigil_datagrams_total{dir="DIR"}` (`received` or `sent`), required.
    pub fn datagrams(&self, dir: &str) -> u64 {
        self.value(&format!("vigil_datagrams_total{{dir=\"{dir}\"}}")) as u64
    }

    /// The raw text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_series_with_labels() {
        let m = Metrics::parse(
            "# HELP x y\nvigil_dropped_total{reason=\"malformed\"} 3\nvigil_mgs_generation 2\n",
        );
        assert_eq!(m.dropped("malformed"), 3);
        assert_eq!(m.get("vigil_mgs_generation"), Some(2.0));
        assert_eq!(m.get("nope"), None);
    }
}
