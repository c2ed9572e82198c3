//! A tiny `--name value` / `--flag` command line parser.

use std::collections::HashMap;
use std::str::FromStr;

pub struct Args {
    prog: &'static str,
    usage: &'static str,
    vals: HashMap<String, Vec<String>>,
    flags: Vec<String>,
}

impl Args {
    /// Parses the process arguments; names in `flags` take no value.
    pub fn parse(prog: &'static str, usage: &'static str, flags: &[&str]) -> Args {
        let mut a = Args {
            prog,
            usage,
            vals: HashMap::new(),
            flags: Vec::new(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            if arg == "-h" || arg == "--help" {
                print!("{usage}");
                std::process::exit(0);
            }
            let Some(name) = arg.strip_prefix("--") else {
                a.die(&format!("unexpected argument {arg}"));
            };
            if let Some((k, v)) = name.split_once('=') {
                a.vals.entry(k.to_owned()).or_default().push(v.to_owned());
            } else if flags.contains(&name) {
                a.flags.push(name.to_owned());
            } else {
                let Some(v) = it.next() else {
                    a.die(&format!("--{name} needs a value"));
                };
                a.vals.entry(name.to_owned()).or_default().push(v);
            }
        }
        a
    }

    pub fn die(&self, msg: &str) -> ! {
        eprintln!("{}: {msg}\n{}", self.prog, self.usage);
        std::process::exit(2);
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.vals.get(name).cloned().unwrap_or_default()
    }

    pub fn opt<T: FromStr>(&self, name: &str) -> Option<T> {
        let v = self.vals.get(name)?.last()?;
        match v.parse() {
            Ok(x) => Some(x),
            Err(_) => self.die(&format!("bad value for --{name}: {v}")),
        }
    }

    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T {
        self.opt(name).unwrap_or(default)
    }

    pub fn req<T: FromStr>(&self, name: &str) -> T {
        self.opt(name)
            .unwrap_or_else(|| self.die(&format!("--{name} is required")))
    }
}
