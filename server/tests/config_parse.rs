//! Integration tests of the `config` module: it is compiled into this test crate from its
//! source (the server is a binary crate), then driven through `parse_config` with injected
//! environments and temporary files.

#[path = "../src/config/mod.rs"]
mod config;

#[path = "config_cases/support.rs"]
mod support;

#[path = "config_cases/cli_flags.rs"]
mod cli_flags;
#[path = "config_cases/env_and_file.rs"]
mod env_and_file;
#[path = "config_cases/errors.rs"]
mod errors;
#[path = "config_cases/guide.rs"]
mod guide;
