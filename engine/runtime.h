// Process-wide runtime settings for berth's binaries (not its tests).
#ifndef BERTH_ENGINE_RUNTIME_H_
#define BERTH_ENGINE_RUNTIME_H_

namespace berth {

// Call once at the start of main() in production binaries and benchmarks. Also
// sends logs to stderr, since stdout carries job output.
//
// Debian's abseil is built with its debug lock-order (deadlock) detection on:
// every absl::Mutex lock consults, and every destruction edits, a process-wide
// graph behind one global spin lock. That serializes all threads and costs more
// than a whole in-process job, so production binaries turn it off. Test binaries
// leave it on, where it catches lock-order inversions.
void ConfigureProductionRuntime();

}  // namespace berth

#endif  // BERTH_ENGINE_RUNTIME_H_
