fn main() {
    println!("awmt");
}
