fn main() {
    std::process::exit(meshc::cli::main());
}
