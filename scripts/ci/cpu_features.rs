//! Prints the CPU features that the crate's run-time dispatch looks at, as Rust's std
//! detects them (the same macros `multiversion` and `src/simd/mod.rs` use), one line:
//! `cpu features: avx2 fma ...`. Under qemu-user this is the emulated CPU model's view;
//! /proc/cpuinfo would show the host's.

fn main() {
    let mut seen: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => { $(if std::arch::is_x86_feature_detected!($f) { seen.push($f); })* };
        }
        probe!(
            "sse4.2", "popcnt", "avx", "avx2", "fma", "bmi2", "avx512f", "avx512bw", "avx512vl",
            "avx512vbmi", "avx512vbmi2", "avx512vpopcntdq"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => { $(if std::arch::is_aarch64_feature_detected!($f) { seen.push($f); })* };
        }
        probe!("neon", "fp16", "dotprod", "sve", "sve2");
    }
    println!("cpu features ({}): {}", std::env::consts::ARCH, seen.join(" "));
}
