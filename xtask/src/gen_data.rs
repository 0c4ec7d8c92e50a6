//! `cargo xtask gen-data`.

use std::path::PathBuf;

pub struct Options {
    pub rows: u64,
    pub files: usize,
    pub seed: u64,
    pub out: PathBuf,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rows: 1_000_000,
        files: 1,
        seed: 42,
        out: crate::shell::root().join("data"),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |text: String| {
            text.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{flag}: expected a number, got {text:?}"))
        };
        match flag.as_str() {
            "--rows" => options.rows = number(value()?)?,
            "--files" => options.files = number(value()?)? as usize,
            "--seed" => options.seed = number(value()?)?,
            "--out" => options.out = PathBuf::from(value()?),
            other => return Err(format!("gen-data: unknown option {other}")),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    std::fs::create_dir_all(&options.out)
        .map_err(|e| format!("cannot create {}: {e}", options.out.display()))?;
    let paths = if options.files == 1 {
        let path = options.out.join(format!("orders-{}.csv", options.rows));
        loader_gen::write_file(&path, options.rows, options.seed, 1)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        vec![path]
    } else {
        loader_gen::write_files(&options.out, options.rows, options.files, options.seed)
            .map_err(|e| format!("{}: {e}", options.out.display()))?
    };
    for path in paths {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("{} ({size} bytes)", path.display());
    }
    Ok(())
}
