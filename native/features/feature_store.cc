#include "features/feature_store.h"

#include <c10/util/Half.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "image/random.h"
#include "loader/loader.h"

namespace carclass::features {

namespace {

constexpr char kMagic[16] = {'C', 'A', 'R', 'C', 'L', 'A', 'S', 'S', '-', 'F', 'E', 'A', 'T', 0, 0, 1};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kPage = 4096;

// Fixed-size header at offset 0; `checksum` covers every byte before it.
struct Header {
  char magic[16];
  uint32_t version, dtype, orientations, rank;
  int64_t shape[4];
  int64_t records;
  char key[64];
  uint64_t checksum;
};
static_assert(sizeof(Header) <= kPage, "header fits its page");

uint64_t RoundUp(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// 64-bit words through SplitMix64 mixing: several GB/s, and any changed byte changes the sum.
uint64_t HashBytes(const uint8_t* p, uint64_t n, uint64_t h) {
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = image::SplitMix64(h ^ w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, size_t(n - i));
  return image::SplitMix64(h ^ tail ^ (n << 56));
}

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// One process per cache file at a time (a shared --cache-dir): the second gets a clear error, not
// writes into a file that the first is about to replace.
void LockOrThrow(int& fd, const std::string& path) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return;
  const bool busy = errno == EWOULDBLOCK;
  const std::string message = busy ? "feature cache " + path + " is in use by another carclass process (or another open cache); wait for it or use another --cache-dir"
                                   : Errno("cannot lock feature cache", path);
  ::close(fd);
  fd = -1;
  throw std::runtime_error(message);
}

}  // namespace

struct FeatureStore::RecordEntry {
  uint64_t identity;
  uint64_t checksum;
  uint8_t state;
  uint8_t pad[7];
};

uint64_t FeatureStore::FileBytes(const StoreLayout& layout) {
  static_assert(sizeof(RecordEntry) == 24, "packed record table");
  int64_t values = 1;
  for (auto d : layout.shape) values *= d;
  const uint64_t elem = layout.dtype == Dtype::F16 ? 2 : 4;
  const uint64_t table = RoundUp(uint64_t(layout.records) * sizeof(RecordEntry), kPage);
  return kPage + table + uint64_t(layout.records) * uint64_t(layout.orientations) * uint64_t(values) * elem;
}

std::shared_ptr<FeatureStore> FeatureStore::Open(const std::string& path, const StoreLayout& layout,
                                                 const std::vector<uint64_t>& identities, OpenReport* report) {
  if (layout.key.size() != 64) throw std::invalid_argument("feature cache key must be 64 hex digits");
  if (layout.records < 1) throw std::invalid_argument("feature cache needs at least one record");
  if (layout.orientations != 1 && layout.orientations != 2) throw std::invalid_argument("feature cache orientations must be 1 or 2");
  if (layout.shape.empty() || layout.shape.size() > 4) throw std::invalid_argument("feature cache shape must have 1 to 4 dimensions");
  if (int64_t(identities.size()) != layout.records) throw std::invalid_argument("feature cache: one identity per record is needed");
  std::shared_ptr<FeatureStore> s(new FeatureStore());
  s->path_ = path;
  s->layout_ = layout;
  s->values_ = 1;
  for (auto d : layout.shape) {
    if (d < 1) throw std::invalid_argument("feature cache shape must be positive");
    s->values_ *= d;
  }
  s->recordBytes_ = uint64_t(layout.orientations) * uint64_t(s->values_) * (layout.dtype == Dtype::F16 ? 2 : 4);
  s->dataOffset_ = kPage + RoundUp(uint64_t(layout.records) * sizeof(RecordEntry), kPage);
  s->mappedBytes_ = FileBytes(layout);

  Header want{};
  std::memcpy(want.magic, kMagic, sizeof(kMagic));
  want.version = kVersion;
  want.dtype = uint32_t(layout.dtype);
  want.orientations = uint32_t(layout.orientations);
  want.rank = uint32_t(layout.shape.size());
  for (size_t i = 0; i < layout.shape.size(); ++i) want.shape[i] = layout.shape[i];
  want.records = layout.records;
  std::memcpy(want.key, layout.key.data(), 64);
  want.checksum = HashBytes(reinterpret_cast<const uint8_t*>(&want), offsetof(Header, checksum), 0);

  OpenReport r;
  s->fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (s->fd_ >= 0) {
    LockOrThrow(s->fd_, path);
    struct stat st{};
    Header have{};
    if (::fstat(s->fd_, &st) != 0) throw std::runtime_error(Errno("cannot stat feature cache", path));
    if (uint64_t(st.st_size) < sizeof(Header) || ::pread(s->fd_, &have, sizeof(have), 0) != ssize_t(sizeof(have))) {
      r.created = "the file is truncated (no complete header)";
    } else if (std::memcmp(have.magic, kMagic, sizeof(kMagic)) != 0 || have.version != kVersion) {
      r.created = "the file is not a carclass feature cache of this version";
    } else if (have.checksum != HashBytes(reinterpret_cast<const uint8_t*>(&have), offsetof(Header, checksum), 0)) {
      r.created = "its header is corrupt";
    } else if (std::memcmp(have.key, want.key, 64) != 0) {
      r.created = "it was built with other base weights or settings (stale key)";
    } else if (std::memcmp(&have, &want, sizeof(Header)) != 0) {
      r.created = "its layout (records, orientations, shape or dtype) differs";
    } else if (uint64_t(st.st_size) != s->mappedBytes_) {
      r.created = "the file is truncated or has the wrong size (" + std::to_string(st.st_size) + " bytes, expected " +
                  std::to_string(s->mappedBytes_) + ")";
    }
    if (!r.created.empty()) {
      ::close(s->fd_);
      s->fd_ = -1;
    }
  } else if (errno == ENOENT) {
    r.created = "no cache yet";
  } else {
    throw std::runtime_error(Errno("cannot open feature cache", path));
  }
  if (s->fd_ < 0) {
    // A new file under a temporary name, renamed into place once sized and headed.
    const std::string tmp = path + ".tmp";
    s->fd_ = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->fd_ < 0) throw std::runtime_error(Errno("cannot create feature cache", tmp));
    LockOrThrow(s->fd_, path);  // before truncating: another process may be filling this very file
    int rc = ::ftruncate(s->fd_, 0) == 0 ? ::posix_fallocate(s->fd_, 0, off_t(s->mappedBytes_)) : errno;
    if (rc == EINVAL || rc == EOPNOTSUPP) rc = ::ftruncate(s->fd_, off_t(s->mappedBytes_)) == 0 ? 0 : errno;
    if (rc != 0) {
      ::close(s->fd_);
      s->fd_ = -1;
      ::unlink(tmp.c_str());
      errno = rc;
      throw std::runtime_error(Errno("cannot reserve " + std::to_string(s->mappedBytes_) + " bytes for feature cache", tmp));
    }
    if (::pwrite(s->fd_, &want, sizeof(want), 0) != ssize_t(sizeof(want)) || ::rename(tmp.c_str(), path.c_str()) != 0) {
      const std::string message = Errno("cannot write feature cache", path);
      ::close(s->fd_);
      s->fd_ = -1;
      ::unlink(tmp.c_str());
      throw std::runtime_error(message);
    }
  }
  void* map = ::mmap(nullptr, s->mappedBytes_, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd_, 0);
  if (map == MAP_FAILED) throw std::runtime_error(Errno("cannot map feature cache", path));
  s->map_ = static_cast<uint8_t*>(map);

  for (int64_t i = 0; i < layout.records; ++i) {
    RecordEntry* e = s->entry(i);
    if (e->state == kPending) continue;
    if (e->identity != identities[size_t(i)]) {
      ++r.changed;
    } else if (e->state == kReady && e->checksum != s->Checksum(i)) {
      ++r.corrupt;
    } else if (e->state == kReady || e->state == kFailed) {
      ++(e->state == kReady ? r.ready : r.failed);
      continue;
    }
    e->state = kPending;
  }
  for (int64_t i = 0; i < layout.records; ++i) s->entry(i)->identity = identities[size_t(i)];
  if (report) *report = r;
  return s;
}

FeatureStore::~FeatureStore() { Close(); }

void FeatureStore::Close() {
  std::lock_guard<std::mutex> lock(mutex_);  // a build may still be writing on a worker thread
  if (map_) {
    ::msync(map_, mappedBytes_, MS_SYNC);
    ::munmap(map_, mappedBytes_);
    map_ = nullptr;
  }
  if (fd_ >= 0) ::close(fd_);  // releases the lock
  fd_ = -1;
}

void FeatureStore::CheckOpen() const {
  if (!map_) throw std::runtime_error("the feature cache " + path_ + " is closed");
}

FeatureStore::RecordEntry* FeatureStore::entry(int64_t record) const {
  return reinterpret_cast<RecordEntry*>(map_ + kPage) + record;
}

const uint8_t* FeatureStore::data(int64_t record) const { return map_ + dataOffset_ + uint64_t(record) * recordBytes_; }

uint64_t FeatureStore::Checksum(int64_t record) const { return HashBytes(data(record), recordBytes_, uint64_t(record) + 1); }

RecordState FeatureStore::state(int64_t record) const {
  CheckOpen();
  return RecordState(entry(record)->state);
}

std::vector<int64_t> FeatureStore::Pending() const {
  CheckOpen();
  std::vector<int64_t> out;
  for (int64_t i = 0; i < layout_.records; ++i)
    if (entry(i)->state == kPending) out.push_back(i);
  return out;
}

void FeatureStore::Write(int64_t record, const float* values) {
  std::lock_guard<std::mutex> lock(mutex_);
  CheckOpen();
  if (record < 0 || record >= layout_.records) throw std::out_of_range("feature cache record " + std::to_string(record) + " out of range");
  uint8_t* dst = map_ + dataOffset_ + uint64_t(record) * recordBytes_;
  const int64_t n = values_ * layout_.orientations;
  if (layout_.dtype == Dtype::F32) {
    std::memcpy(dst, values, size_t(n) * sizeof(float));
  } else {
    auto* half = reinterpret_cast<c10::Half*>(dst);
    for (int64_t i = 0; i < n; ++i) half[i] = c10::Half(values[i]);
  }
  RecordEntry* e = entry(record);
  e->checksum = Checksum(record);
  e->state = kReady;  // last: a record is ready only once its values and checksum are in place
}

void FeatureStore::MarkFailed(int64_t record) {
  CheckOpen();
  entry(record)->state = kFailed;
}

void FeatureStore::Read(int64_t record, int orientation, float* out) const {
  CheckOpen();
  const uint8_t* src = data(record) + uint64_t(orientation) * (recordBytes_ / uint64_t(layout_.orientations));
  if (layout_.dtype == Dtype::F32) {
    std::memcpy(out, src, size_t(values_) * sizeof(float));
  } else {
    const auto* half = reinterpret_cast<const c10::Half*>(src);
    for (int64_t i = 0; i < values_; ++i) out[i] = float(half[i]);
  }
}

void FeatureStore::Flush() const {
  CheckOpen();
  if (::msync(map_, mappedBytes_, MS_SYNC) != 0) throw std::runtime_error(Errno("cannot sync feature cache", path_));
}

FeatureBatcher::FeatureBatcher(std::shared_ptr<FeatureStore> store, FeatureBatchOptions options)
    : store_(std::move(store)), options_(std::move(options)) {
  const int64_t n = store_->layout().records;
  if (int64_t(options_.labels.size()) != n || int64_t(options_.files.size()) != n)
    throw std::invalid_argument("feature batches need one label and one file per cached record");
  if (!options_.sampleWeights.empty() && int64_t(options_.sampleWeights.size()) != n)
    throw std::invalid_argument("feature batches need one sample weight per cached record");
  if (options_.batchSize < 1) throw std::invalid_argument("batchSize must be positive");
  if (options_.flip && store_->layout().orientations != 2) throw std::invalid_argument("flip needs a cache with both orientations");
}

int64_t FeatureBatcher::BatchesPerEpoch() const {
  return (store_->layout().records + options_.batchSize - 1) / options_.batchSize;
}

BatchPtr FeatureBatcher::Make(int64_t epoch, int64_t number) {
  const StoreLayout& layout = store_->layout();
  if (number < 0 || number >= BatchesPerEpoch()) throw std::out_of_range("batch " + std::to_string(number) + " is outside the epoch");
  if (epoch != orderEpoch_) {
    order_ = loader::EpochOrder(layout.records, options_.shuffle, options_.seed, epoch);
    orderEpoch_ = epoch;
  }
  auto batch = std::make_shared<Batch>();
  batch->features = true;
  if (layout.shape.size() == 3) {
    batch->height = layout.shape[0];
    batch->width = layout.shape[1];
    batch->channels = layout.shape[2];
  } else {
    batch->height = batch->width = 1;
    batch->channels = layout.shape[0];
  }
  batch->epoch = epoch;
  batch->number = number;
  const int64_t first = number * options_.batchSize, end = std::min(first + options_.batchSize, layout.records);
  const int64_t values = store_->valuesPerOrientation();
  batch->pixels.resize(size_t((end - first) * values));
  int64_t kept = 0;
  for (int64_t p = first; p < end; ++p) {
    const int64_t record = order_[size_t(p)];
    if (store_->state(record) != kReady) continue;  // the loader would have skipped this bad file
    int orientation = 0;
    if (options_.flip) {
      const image::AugmentDraw draw = image::DrawAugment(options_.seed, epoch, record, options_.augmentProbability);
      orientation = draw.applied && draw.flip ? 1 : 0;
    }
    store_->Read(record, orientation, batch->pixels.data() + kept * values);
    batch->labels.push_back(options_.labels[size_t(record)]);
    if (!options_.sampleWeights.empty()) batch->sampleWeights.push_back(options_.sampleWeights[size_t(record)]);
    batch->files.push_back(options_.files[size_t(record)]);
    batch->indices.push_back(record);
    ++kept;
  }
  batch->size = kept;
  batch->pixels.resize(size_t(kept * values));
  return batch;
}

void MirrorImage(float* hwc, int height, int width) {
  image::AugmentDraw draw;
  draw.applied = draw.flip = true;
  draw.adjustContrast = false;
  image::ApplyAugment(hwc, height, width, draw);
}

}  // namespace carclass::features
