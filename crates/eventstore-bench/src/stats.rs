//! Percentiles and Markdown tables.

/// Sort `v` and return the values at the given percentiles.
pub fn percentiles(v: &mut [u64], ps: &[f64]) -> Vec<u64> {
    v.sort_unstable();
    ps.iter()
        .map(|p| {
            if v.is_empty() {
                return 0;
            }
            let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
            v[i.min(v.len() - 1)]
        })
        .collect()
}

/// CPU seconds (user and system) this process has used so far, all threads.
#[allow(unsafe_code)]
pub fn cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// The median of `v` (sorts it).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
}

/// A Markdown table printed to stdout.
pub struct Table {
    title: String,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, head: &[&str]) -> Table {
        Table {
            title: title.into(),
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }
    pub fn row(&mut self, r: Vec<String>) {
        eprintln!("  {}", r.join(" | "));
        self.rows.push(r);
    }
    pub fn print(&self) {
        println!("\n#### {}\n", self.title);
        println!("| {} |", self.head.join(" | "));
        println!(
            "|{}|",
            self.head
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in &self.rows {
            println!("| {} |", r.join(" | "));
        }
    }
}
