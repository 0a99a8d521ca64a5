//! `hubspot-tickets` command (work in progress).

fn main() {
    println!("hubspot-tickets: the demo lands with the CLI issue");
}
