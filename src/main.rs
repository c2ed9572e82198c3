fn main() {
    println!("edgesip {}", env!("CARGO_PKG_VERSION"));
}
