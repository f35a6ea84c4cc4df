//! The `oxcd` command.

fn main() {
    eprintln!("oxcd: the server is not built yet");
    std::process::exit(1);
}
