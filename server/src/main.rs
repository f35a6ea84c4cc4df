//! The `oxcd` command.

mod config;

fn main() {
    let config = match config::parse_config(std::env::args_os(), |k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(e) => {
            e.report();
            std::process::exit(e.exit_code());
        }
    };
    if config.print_config {
        println!("{config:#?}\n{:#?}", config.derived());
        return;
    }
    eprintln!("oxcd: the server is not built yet");
    std::process::exit(1);
}
