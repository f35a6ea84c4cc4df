//! The `oxcd` command: etcd's flags in, a running member out.

mod config;
mod run;
mod snapshot;

fn main() {
    let mut args = std::env::args();
    if args.nth(1).as_deref() == Some("snapshot") {
        std::process::exit(snapshot::main(args.collect()));
    }
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
    run::init_logging(&config);
    match run::run(&config) {
        Ok(reason) => tracing::info!(?reason, "oxcd exited"),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("oxcd: {e}");
            std::process::exit(1);
        }
    }
}
