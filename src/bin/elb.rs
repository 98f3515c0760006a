//! `elb`: the native command-line tool (msit-compatible flags).
fn main() {
    eprintln!("elb: not implemented yet");
    std::process::exit(2);
}
