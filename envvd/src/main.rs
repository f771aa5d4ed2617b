fn main() {
    eprintln!("envvd: the agent is not built yet");
    std::process::exit(1);
}
