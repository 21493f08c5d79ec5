//! `casebook-server`: parse the configuration, start logging, run the relay until SIGINT or SIGTERM.
//! `casebook-server probe --url URL` checks a running relay's health instead (exit 0 when it answers 200).

use std::time::Duration;

use clap::Parser;

/// Tools beside serving.
#[derive(Debug, Parser)]
#[command(name = "casebook-server")]
enum Tool {
    /// Exit 0 when URL (plain http, e.g. http://127.0.0.1:3030/readyz) answers 200 within the timeout,
    /// 1 otherwise: a health check for containers and service managers.
    Probe {
        /// The URL to ask.
        #[arg(long, default_value = "http://127.0.0.1:3030/readyz")]
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("probe") {
        let Tool::Probe { url, timeout_secs } = Tool::parse();
        match casebook_server::probe(&url, Duration::from_secs(timeout_secs)) {
            Ok(200) => return Ok(()),
            Ok(status) => eprintln!("{url}: {status}"),
            Err(e) => eprintln!("{url}: {e}"),
        }
        std::process::exit(1);
    }
    let config = casebook_server::Config::parse();
    casebook_server::init_logging_as(config.log_format);
    casebook_server::run(config, casebook_server::shutdown_signal()).await?;
    Ok(())
}
