//! `casebook-server`: parse the configuration, start logging, run the relay until SIGINT or SIGTERM.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = casebook_server::Config::parse();
    casebook_server::init_logging_as(config.log_format);
    casebook_server::run(config, casebook_server::shutdown_signal()).await?;
    Ok(())
}
