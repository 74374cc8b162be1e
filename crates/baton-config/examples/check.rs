//! Loads the files named on the command line and prints the diagnostics and verdict.
fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    let loaded = baton_config::load_paths(&paths);
    for d in &loaded.diagnostics {
        println!("{}", d.render(std::process::id()));
    }
    println!("verdict: {:?}", loaded.verdict());
}
