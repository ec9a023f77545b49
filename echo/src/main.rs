//! `certprop-echo [ADDR]`: answer every HTTP request with the request's headers as JSON
//! (see the `certprop_echo` crate docs). ADDR defaults to `127.0.0.1:8081`; the first line on
//! standard output is `listening on http://ADDR`.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let addr = std::env::args().nth(1).unwrap_or_else(|| String::from("127.0.0.1:8081"));
    if addr == "--help" || addr == "-h" {
        println!("usage: certprop-echo [ADDR]   (default 127.0.0.1:8081)");
        return ExitCode::SUCCESS;
    }
    let server = match certprop_echo::EchoServer::bind(&addr) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("certprop-echo: error: {error}");
            return ExitCode::from(2);
        }
    };
    match server.local_addr() {
        Some(bound) => println!("listening on http://{bound}"),
        None => println!("listening on {addr}"),
    }
    let _ = std::io::stdout().flush();
    server.run();
    ExitCode::SUCCESS
}
