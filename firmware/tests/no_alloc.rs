//! Decoding allocates nothing: a counting global allocator watches the whole pipeline
//! (framer, decoders, epoch assembler, integrity monitor) over every gpsd log.
//!
//! Only allocations made by the current thread while counting is switched on are counted,
//! so the test harness's own threads cannot disturb the result.

// A global allocator has to implement the `unsafe` trait `GlobalAlloc`; it only forwards
// to the system allocator and bumps a counter.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use ects_firmware::nmea::fix::FixAssembler;
use ects_firmware::nmea::framer::Framer;
use ects_firmware::nmea::integrity::IntegrityMonitor;
use ects_firmware::nmea::parse;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn count_allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn test_decoding_allocates_nothing() {
    // The counter works: a Vec allocates.
    assert!(count_allocations(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/gpsd-logs");
    let mut logs: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            logs.push(std::fs::read(path).unwrap());
        }
    }
    assert_eq!(logs.len(), 25);

    let mut sentences = 0usize;
    let mut fixes = 0usize;
    let n = count_allocations(|| {
        for log in &logs {
            let mut framer: Framer = Framer::new();
            let mut asm = FixAssembler::new();
            let mut monitor = IntegrityMonitor::new(Default::default());
            for &b in log {
                let Some(Ok(frame)) = framer.push(b) else {
                    continue;
                };
                let Ok(s) = parse(frame.body()) else { continue };
                sentences += 1;
                if let Some(fix) = asm.push(&s) {
                    fixes += 1;
                    for signal in monitor.step(&fix) {
                        std::hint::black_box(signal);
                    }
                }
            }
            let _ = framer.finish();
            if let Some(fix) = asm.flush() {
                std::hint::black_box(monitor.step(&fix));
            }
        }
    });
    assert!(sentences > 10_000 && fixes > 500, "{sentences} {fixes}");
    assert_eq!(n, 0, "decoding allocated {n} times");
}
