// Frozen-base feature cache: one memory-mapped file of head inputs per file list, one record per
// file (both orientations when flips are cached), with a per-record identity (path, size, mtime)
// and checksum so a changed file or a damaged record is rebuilt, never read.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "image/transform.h"
#include "loader/batch.h"

namespace carclass::features {

enum class Dtype : uint32_t { F32 = 1, F16 = 2 };

// Everything the file's header must match; anything else in the file is rebuilt.
struct StoreLayout {
  std::string key;             // 64 hex digits: hash of what changes features (weights, arch, size, ...)
  int64_t records = 0;         // one per file
  int32_t orientations = 1;    // 1, or 2 with the mirrored image
  std::vector<int64_t> shape;  // per-orientation feature shape: [H, W, C] or [C]
  Dtype dtype = Dtype::F32;
};

enum RecordState : uint8_t { kPending = 0, kReady = 1, kFailed = 2 };

struct OpenReport {
  std::string created;      // "" when an existing file was reused, else why it was (re)made
  int64_t ready = 0;        // records that can be read as they are
  int64_t failed = 0;       // files that could not be decoded when the cache was built
  int64_t changed = 0;      // records whose file changed (path, size or mtime) since
  int64_t corrupt = 0;      // records whose checksum did not match
};

class FeatureStore {
 public:
  // Maps `path` when its header matches `layout` and its size is right, else creates it anew
  // (space reserved up front, so a full disk fails here and not as SIGBUS on a write).
  // `identities`: one per record; records whose identity or checksum differ become pending.
  static std::shared_ptr<FeatureStore> Open(const std::string& path, const StoreLayout& layout,
                                            const std::vector<uint64_t>& identities, OpenReport* report);
  ~FeatureStore();
  FeatureStore(const FeatureStore&) = delete;
  FeatureStore& operator=(const FeatureStore&) = delete;

  static uint64_t FileBytes(const StoreLayout& layout);
  const StoreLayout& layout() const { return layout_; }
  const std::string& path() const { return path_; }
  int64_t valuesPerOrientation() const { return values_; }
  RecordState state(int64_t record) const;
  std::vector<int64_t> Pending() const;

  // Stores one record (all orientations, `values` orientation-major, float32) and marks it ready.
  void Write(int64_t record, const float* values);
  void MarkFailed(int64_t record);
  // Copies one orientation of a ready record into `out` as float32.
  void Read(int64_t record, int orientation, float* out) const;
  void Flush() const;  // msync: what is marked ready is on disk
  void Close();        // unmaps and unlocks now; later calls throw (batchers holding it included)

 private:
  FeatureStore() = default;
  struct RecordEntry;
  RecordEntry* entry(int64_t record) const;
  const uint8_t* data(int64_t record) const;
  uint64_t Checksum(int64_t record) const;
  void CheckOpen() const;

  std::string path_;
  StoreLayout layout_;
  int64_t values_ = 0;        // values per orientation
  uint64_t recordBytes_ = 0;  // all orientations
  uint64_t dataOffset_ = 0, mappedBytes_ = 0;
  uint8_t* map_ = nullptr;
  int fd_ = -1;
  std::mutex mutex_;  // Write (build worker) against Close (main thread)
};

// Training batches from a ready store, in the loader's epoch order, with its flip draw per
// (seed, epoch, index): what the loader would have fed the frozen base, as head inputs.
struct FeatureBatchOptions {
  std::vector<int32_t> labels;
  std::vector<float> sampleWeights;  // empty or one per record
  std::vector<std::string> files;
  int64_t batchSize = 32;
  bool shuffle = true;
  uint64_t seed = 0;
  bool flip = false;  // pick the mirrored record where the loader's draw flips
  double augmentProbability = 0.7;
};

class FeatureBatcher {
 public:
  FeatureBatcher(std::shared_ptr<FeatureStore> store, FeatureBatchOptions options);
  int64_t BatchesPerEpoch() const;
  // Batch `number` of `epoch`: its ready records (failed files are skipped, as the loader skips them).
  BatchPtr Make(int64_t epoch, int64_t number);

 private:
  std::shared_ptr<FeatureStore> store_;
  FeatureBatchOptions options_;
  int64_t orderEpoch_ = -1;
  std::vector<int64_t> order_;
};

// Mirrors one HWC float image in place exactly as the loader's flip does.
void MirrorImage(float* hwc, int height, int width);

}  // namespace carclass::features
