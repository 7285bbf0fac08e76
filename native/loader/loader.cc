#include "loader/loader.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "image/decode.h"
#include "image/random.h"

namespace carclass::loader {

using Clock = std::chrono::steady_clock;

std::vector<int64_t> EpochOrder(int64_t count, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), int64_t(0));
  if (!shuffle) return order;
  image::CounterRng rng(image::StreamKey(seed, image::kDomainShuffle, uint64_t(epoch), 0));
  for (int64_t i = count - 1; i > 0; --i) std::swap(order[size_t(i)], order[rng.NextBelow(uint64_t(i) + 1)]);
  return order;
}

std::vector<int64_t> ShardOrder(const std::vector<int64_t>& order, int index, int count) {
  if (count <= 1) return order;
  const int64_t n = int64_t(order.size());
  const int64_t perShard = (n + count - 1) / count;
  std::vector<int64_t> shard;
  shard.reserve(size_t(perShard));
  for (int64_t k = 0; k < perShard; ++k) shard.push_back(order[size_t((k * count + index) % n)]);
  return shard;
}

// Batches released by their last owner come back here (when the loader still exists), so
// steady-state training reuses a few pixel buffers instead of churning large allocations that
// malloc keeps in per-thread arenas.
struct Loader::BatchPool {
  std::mutex mutex;
  std::vector<std::unique_ptr<Batch>> free;
  size_t limit = 0;
};

BatchPtr Loader::AcquireBatch() {
  std::unique_ptr<Batch> batch;
  {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    if (!pool_->free.empty()) {
      batch = std::move(pool_->free.back());
      pool_->free.pop_back();
    }
  }
  if (!batch) batch = std::make_unique<Batch>();
  std::weak_ptr<BatchPool> home = pool_;
  return BatchPtr(batch.release(), [home](Batch* released) {
    std::unique_ptr<Batch> owned(released);
    if (auto pool = home.lock()) {
      std::lock_guard<std::mutex> lock(pool->mutex);
      if (pool->free.size() < pool->limit) pool->free.push_back(std::move(owned));
    }
  });
}

// One batch being assembled. `pending` counts samples not yet written.
struct Loader::Slot {
  BatchPtr batch;
  int64_t capacity = 0;
  int64_t pending = 0;
  bool allocated = false;  // pixels buffer sized (done outside the lock by the first worker)
  bool ready = false;
  std::vector<char> ok;
  std::vector<LoadError> errors;  // per sample, meaningful where !ok
  std::vector<LoadError> failed;  // in batch order; recorded in stats on delivery (epoch order)
  std::string failure;            // "CODE|message" when onError is 'throw'
};

struct Loader::Run {
  uint64_t token = 0;
  int64_t epoch = 0;
  std::vector<int64_t> order;
  int64_t items = 0, batches = 0;  // this run's share: the whole epoch's, or what is left after skipItems
  int64_t nextItem = 0;   // next epoch position to hand to a worker
  int64_t delivered = 0;  // batches handed to Next()
  std::atomic<bool> cancelled{false};  // read without the lock by workers as an early-out
  bool timing = true;
  Clock::time_point start = Clock::now();
  std::map<int64_t, std::shared_ptr<Slot>> slots;
};

namespace {
int64_t CountBatches(int64_t files, int64_t batchSize, bool dropRemainder) {
  return dropRemainder ? files / batchSize : (files + batchSize - 1) / batchSize;
}
}  // namespace

int64_t Loader::BatchesFrom(int64_t skipItems) const {
  // ShardOrder's length: the rest of the epoch's order, padded to a multiple of the shard count, per shard.
  const int64_t n = std::max<int64_t>(0, int64_t(options_.files.size()) - std::max<int64_t>(0, skipItems));
  const int64_t items = options_.shardCount > 1 ? (n + options_.shardCount - 1) / options_.shardCount : n;
  return CountBatches(items, std::max<int64_t>(options_.batchSize, 1), options_.dropRemainder);
}

Loader::Loader(LoaderOptions options)
    : options_(std::move(options)),
      batchesPerEpoch_(BatchesFrom(0)),
      sampleValues_(size_t(options_.height) * options_.width * 3) {
  if (options_.batchSize < 1 || options_.height < 1 || options_.width < 1 || options_.threads < 1 || options_.prefetch < 1) {
    throw std::invalid_argument("INVALID_ARGUMENT|batchSize, size, threads and prefetch must be positive");
  }
  if (options_.shardCount < 1 || options_.shardIndex < 0 || options_.shardIndex >= options_.shardCount) {
    throw std::invalid_argument("INVALID_ARGUMENT|shard index must be in [0, shard count)");
  }
  if (!options_.labels.empty() && options_.labels.size() != options_.files.size()) {
    throw std::invalid_argument("INVALID_ARGUMENT|labels must have one entry per file");
  }
  if (!options_.sampleWeights.empty() && options_.sampleWeights.size() != options_.files.size()) {
    throw std::invalid_argument("INVALID_ARGUMENT|sampleWeights must have one entry per file");
  }
  if (options_.augment && options_.preprocess == image::Preprocess::None) {
    throw std::invalid_argument("INVALID_ARGUMENT|augmentation needs preprocess 'tf' or 'caffe'");
  }
  pool_ = std::make_shared<BatchPool>();
  pool_->limit = size_t(options_.prefetch) + 2;
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

Loader::~Loader() { Close(); }

uint64_t Loader::StartEpoch(int64_t epoch, int64_t firstBatch, int64_t skipItems) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_) throw std::runtime_error("LOADER_CLOSED|the loader is closed");
  if (firstBatch < 0 || firstBatch > batchesPerEpoch_) {
    throw std::invalid_argument("INVALID_ARGUMENT|firstBatch must be in [0, " + std::to_string(batchesPerEpoch_) + "]");
  }
  if (skipItems < 0 || (skipItems > 0 && firstBatch > 0)) {
    throw std::invalid_argument("INVALID_ARGUMENT|skipItems must be >= 0 and goes without firstBatch");
  }
  std::vector<int64_t> order = EpochOrder(int64_t(options_.files.size()), options_.shuffle, options_.seed, epoch);
  order.erase(order.begin(), order.begin() + std::min<int64_t>(skipItems, int64_t(order.size())));
  if (current_) {
    current_->cancelled = true;
    EndRunTimer(*current_);
  }
  auto run = std::make_shared<Run>();
  run->token = nextToken_++;
  run->epoch = epoch;
  run->order = ShardOrder(order, options_.shardIndex, options_.shardCount);
  run->batches = BatchesFrom(skipItems);
  run->items = std::min<int64_t>(int64_t(run->order.size()), run->batches * options_.batchSize);
  run->nextItem = firstBatch * options_.batchSize;
  run->delivered = firstBatch;
  current_ = run;
  changed_.notify_all();
  const uint64_t token = run->token;
  ServeWaiters(lock);  // callers still waiting on the replaced epoch learn that it was superseded
  return token;
}

void Loader::EndRunTimer(Run& run) {
  if (!run.timing) return;
  run.timing = false;
  activeSeconds_ += std::chrono::duration<double>(Clock::now() - run.start).count();
}

bool Loader::HasWork() const {
  if (!current_ || current_->cancelled) return false;
  const Run& run = *current_;
  return run.nextItem < run.items && run.nextItem / options_.batchSize < run.delivered + options_.prefetch;
}

void Loader::WorkerLoop() {
  image::RgbImage decoded;    // reused across images: no per-image allocation once warm
  std::vector<uint8_t> bytes;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [this] { return closed_ || HasWork(); });
    if (closed_) return;
    std::shared_ptr<Run> run = current_;
    const int64_t position = run->nextItem++;
    const int64_t number = position / options_.batchSize;
    std::shared_ptr<Slot>& entry = run->slots[number];
    const bool allocate = !entry;
    if (allocate) {
      entry = std::make_shared<Slot>();
      entry->batch = AcquireBatch();
      const int64_t first = number * options_.batchSize;
      entry->capacity = std::min<int64_t>(options_.batchSize, run->items - first);
      entry->pending = entry->capacity;
      entry->ok.assign(size_t(entry->capacity), 0);
      entry->errors.resize(size_t(entry->capacity));
      entry->batch->epoch = run->epoch;
      entry->batch->number = number;
    }
    std::shared_ptr<Slot> slot = entry;
    lock.unlock();
    if (allocate) {
      Batch& batch = *slot->batch;
      // A recycled batch keeps its buffers' capacity; only metadata is reset.
      batch.labels.clear();
      batch.sampleWeights.clear();
      batch.files.clear();
      batch.indices.clear();
      batch.height = options_.height;
      batch.width = options_.width;
      batch.isUint8 = options_.preprocess == image::Preprocess::None || options_.uint8Batches;
      batch.preprocess = batch.isUint8 ? options_.preprocess : image::Preprocess::None;
      batch.adjust.assign(batch.isUint8 && options_.augment ? size_t(slot->capacity) : 0, image::SampleAdjust{});
      if (batch.isUint8) batch.pixelsU8.resize(size_t(slot->capacity) * sampleValues_);
      else batch.pixels.resize(size_t(slot->capacity) * sampleValues_);
      lock.lock();
      slot->allocated = true;
      changed_.notify_all();
      lock.unlock();
    }
    ProcessItem(*run, *slot, position, decoded, bytes);
    lock.lock();
    if (--slot->pending == 0) {
      lock.unlock();
      Finalize(*run, *slot);
      lock.lock();
      slot->ready = true;
      changed_.notify_all();
      ServeWaiters(lock);
    }
  }
}

void Loader::ProcessItem(Run& run, Slot& slot, int64_t position, image::RgbImage& decoded, std::vector<uint8_t>& bytes) {
  const size_t index = size_t(position % options_.batchSize);
  if (run.cancelled) return;  // results of a cancelled run are never read
  const int64_t fileIndex = run.order[size_t(position)];
  const std::string& file = options_.files[size_t(fileIndex)];
  try {
    image::ReadFile(file, bytes, options_.decode.maxFileBytes);
    // crop_or_pad keeps only the central rows: skip the IDCT/upsampling/colour work for the rest.
    if (options_.resize == image::Resize::CropOrPad) {
      image::DecodeImageBytesCenterRows(bytes.data(), bytes.size(), options_.decode, options_.height, decoded);
    } else {
      image::DecodeImageBytes(bytes.data(), bytes.size(), options_.decode, decoded);
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return slot.allocated; });
    }
    Batch& batch = *slot.batch;
    float* floats = batch.isUint8 ? nullptr : batch.pixels.data() + index * sampleValues_;
    uint8_t* bytesOut = batch.isUint8 ? batch.pixelsU8.data() + index * sampleValues_ : nullptr;
    image::AugmentDraw draw;
    if (options_.augment) {
      draw = image::DrawAugment(options_.seed, run.epoch, fileIndex, options_.augmentProbability);
      draw.flip = draw.flip && options_.augmentFlip;
      if (!options_.augmentBrightness) draw.brightness = 0.f;
      draw.adjustContrast = options_.augmentContrast;
    }
    if (options_.mirror) {  // the feature cache's second orientation: flipped, values untouched
      draw.applied = draw.flip = true;
      draw.brightness = 0.f;
      draw.adjustContrast = false;
    }
    const image::Preprocess rendered = floats ? options_.preprocess : image::Preprocess::None;
    image::Render(decoded, options_.height, options_.width, options_.resize, rendered, floats, bytesOut, draw.applied);
    if (draw.applied && floats) {
      image::ApplyAugment(floats, options_.height, options_.width, draw);
    } else if (draw.applied) {  // uint8 batch: flip here, brightness and contrast by the consumer
      if (draw.flip) image::FlipHorizontalU8(bytesOut, options_.height, options_.width);
      if (!batch.adjust.empty()) batch.adjust[index] = image::AdjustFor(bytesOut, options_.height, options_.width, options_.preprocess, draw);
    }
    slot.ok[index] = 1;
    std::lock_guard<std::mutex> lock(mutex_);
    ++images_;
  } catch (const image::ImageError& e) {
    slot.errors[index] = {file, e.code(), e.reason()};
  } catch (const std::exception& e) {
    slot.errors[index] = {file, "INTERNAL", e.what()};
  }
}

// Runs once per batch, by the worker that wrote its last sample: compacts away failed samples
// and attaches labels, weights, files and indices.
void Loader::Finalize(Run& run, Slot& slot) {
  Batch& batch = *slot.batch;
  const int64_t first = batch.number * options_.batchSize;
  std::vector<LoadError>& failed = slot.failed;
  int64_t kept = 0;
  for (int64_t i = 0; i < slot.capacity; ++i) {
    const int64_t fileIndex = run.order[size_t(first + i)];
    if (!slot.ok[size_t(i)]) {
      failed.push_back(slot.errors[size_t(i)]);
      continue;
    }
    if (kept != i) {
      if (batch.isUint8) {
        std::memmove(batch.pixelsU8.data() + kept * sampleValues_, batch.pixelsU8.data() + i * sampleValues_, sampleValues_);
      } else {
        std::memmove(batch.pixels.data() + kept * sampleValues_, batch.pixels.data() + i * sampleValues_,
                     sampleValues_ * sizeof(float));
      }
    }
    if (!batch.adjust.empty()) batch.adjust[size_t(kept)] = batch.adjust[size_t(i)];
    batch.labels.push_back(options_.labels.empty() ? -1 : options_.labels[size_t(fileIndex)]);
    if (!options_.sampleWeights.empty()) batch.sampleWeights.push_back(options_.sampleWeights[size_t(fileIndex)]);
    batch.files.push_back(options_.files[size_t(fileIndex)]);
    batch.indices.push_back(fileIndex);
    ++kept;
  }
  batch.size = kept;
  if (batch.isUint8) batch.pixelsU8.resize(size_t(kept) * sampleValues_);
  else batch.pixels.resize(size_t(kept) * sampleValues_);
  if (!batch.adjust.empty()) batch.adjust.resize(size_t(kept));
  if (!failed.empty() && !options_.skipErrors) {
    const LoadError& e = failed.front();
    slot.failure = e.code + "|Cannot load \"" + e.file + "\": " + e.reason;
  }
}

bool Loader::TryNext(uint64_t token, BatchPtr& out) {
  for (;;) {
    out = nullptr;
    if (closed_) return true;
    if (!current_ || current_->token != token) {
      throw std::runtime_error("EPOCH_SUPERSEDED|this epoch's iteration was cancelled or replaced by another epoch");
    }
    Run& run = *current_;
    if (run.delivered >= run.batches || run.cancelled) {
      EndRunTimer(run);
      return true;
    }
    auto it = run.slots.find(run.delivered);
    if (it == run.slots.end() || !it->second->ready) return false;
    std::shared_ptr<Slot> slot = it->second;
    run.slots.erase(it);
    ++run.delivered;
    changed_.notify_all();  // a prefetch place is free
    if (run.delivered >= run.batches) EndRunTimer(run);
    errors_.insert(errors_.end(), slot->failed.begin(), slot->failed.end());
    if (!slot->failure.empty()) {
      run.cancelled = true;  // the iteration rejects; stop producing the rest of the epoch
      EndRunTimer(run);
      throw std::runtime_error(slot->failure);
    }
    if (slot->batch->size == 0) continue;  // every file of this batch was skipped
    ++batches_;
    out = slot->batch;
    return true;
  }
}

BatchPtr Loader::Next(uint64_t token) {
  std::unique_lock<std::mutex> lock(mutex_);
  BatchPtr out;
  while (!TryNext(token, out)) changed_.wait(lock);
  return out;
}

void Loader::NextAsync(uint64_t token, NextCallback ready) {
  std::unique_lock<std::mutex> lock(mutex_);
  waiters_.push_back({token, std::move(ready)});
  ServeWaiters(lock);
}

void Loader::ServeWaiters(std::unique_lock<std::mutex>& lock) {
  struct Answer {
    NextCallback ready;
    BatchPtr batch;
    std::exception_ptr error;
  };
  std::vector<Answer> answers;
  while (!waiters_.empty()) {
    Answer answer;
    try {
      if (!TryNext(waiters_.front().token, answer.batch)) break;
    } catch (...) {
      answer.error = std::current_exception();
    }
    answer.ready = std::move(waiters_.front().ready);
    waiters_.pop_front();
    answers.push_back(std::move(answer));
  }
  if (answers.empty()) return;
  lock.unlock();  // callbacks may call back into the loader
  for (Answer& answer : answers) answer.ready(std::move(answer.batch), answer.error);
  lock.lock();
}

void Loader::Cancel(uint64_t token) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (current_ && current_->token == token) {
    current_->cancelled = true;
    EndRunTimer(*current_);
    current_.reset();  // queued batches are freed once in-flight images finish
    changed_.notify_all();
    ServeWaiters(lock);
  }
}

void Loader::Close() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    if (current_) {
      current_->cancelled = true;
      EndRunTimer(*current_);
    }
    changed_.notify_all();
    ServeWaiters(lock);  // pending NextAsync calls get the end (nullptr), as Next() would
  }
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  current_.reset();
}

LoaderStats Loader::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  LoaderStats stats;
  stats.images = images_;
  stats.batches = batches_;
  stats.errors = errors_;
  double seconds = activeSeconds_;
  if (current_ && current_->timing) seconds += std::chrono::duration<double>(Clock::now() - current_->start).count();
  stats.imagesPerSecond = seconds > 0 ? double(images_) / seconds : 0;
  return stats;
}

}  // namespace carclass::loader
