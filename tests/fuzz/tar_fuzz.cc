// libFuzzer target for berth's tar layer decoder: arbitrary bytes go
// through TarReader (every entry, every data byte, read in uneven chunks)
// and through ApplyLayer in dry-run mode, which adds path cleaning,
// whiteout parsing, hard link target checks and the size limits. Neither
// may crash, hang or allocate without bound; errors are fine.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "storage/byte_source.h"
#include "storage/layer_apply.h"
#include "storage/tar_reader.h"

namespace {

// Small limits keep each run fast and make the limit paths reachable.
berth::storage::TarLimits FuzzLimits() {
  berth::storage::TarLimits limits;
  limits.max_name_bytes = 4096;
  limits.max_pax_bytes = 64 * 1024;
  limits.max_entry_bytes = 16 * 1024 * 1024;
  return limits;
}

void ReadEverything(absl::string_view input) {
  berth::storage::TarReader reader(berth::storage::StringViewSource(input),
                                   FuzzLimits());
  char buf[333];
  for (int entries = 0; entries < 100000; ++entries) {
    berth::storage::TarEntry entry;
    absl::StatusOr<bool> more = reader.Next(&entry);
    if (!more.ok() || !*more) return;
    // Touch what a consumer would use.
    (void)berth::storage::CleanArchivePath(entry.name);
    (void)berth::storage::CleanArchivePath(entry.link_name);
    // Alternate between reading the data and letting Next skip it.
    if (entries % 2 == 0) continue;
    while (true) {
      absl::StatusOr<size_t> n = reader.Read(buf, sizeof(buf));
      if (!n.ok() || *n == 0) break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  ReadEverything(input);

  berth::storage::ApplyOptions options;
  options.dry_run = true;
  options.tar = FuzzLimits();
  options.max_entries = 100000;
  options.max_total_bytes = 64 * 1024 * 1024;
  (void)berth::storage::ApplyLayer("", berth::storage::StringViewSource(input),
                                   options);
  return 0;
}
