// meshc allocates many small values (one JSON tree and one typed spec per
// resource) from several threads; mimalloc is markedly faster at that than the
// system allocator (about a third of the run time of a 100,000-resource validate).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A reader that stops early (`meshc rule | head`) ends meshc quietly, as it
    // ends `cat`, instead of making every later write to stdout an error.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread or handler exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(meshc::cli::main());
}
