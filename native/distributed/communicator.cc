#include "distributed/communicator.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <stdexcept>

#ifdef CARCLASS_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CARCLASS_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace carclass::distributed {

namespace {

using Millis = std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

Millis ToMillis(double seconds) { return Millis(static_cast<int64_t>(seconds * 1000.0)); }

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
std::string Text(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

std::string FirstLine(const std::string& s) {
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::string Describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const c10::Error& err) {
    return FirstLine(err.what_without_backtrace());
  } catch (const std::exception& err) {
    return FirstLine(err.what());
  } catch (...) {
    return "unknown error";
  }
}

std::string Seconds(double s) {
  std::ostringstream o;
  o.precision(3);
  o << s << " s";
  return o.str();
}

bool IsLoopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

// LibTorch 2.4+ asks for the libuv store by default, which builds without libuv (Debian's) refuse:
// those get the classic store, the one LibTorch 1.13 always uses.
c10::intrusive_ptr<c10d::TCPStore> MakeStore(const std::string& host, c10d::TCPStoreOptions options) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, options);
  } catch (const std::exception& e) {
    if (!options.useLibUV || std::string(e.what()).find("libuv") == std::string::npos) throw;
    options.useLibUV = false;
  }
#endif
  return c10::make_intrusive<c10d::TCPStore>(host, options);
}

}  // namespace

bool HaveNccl() {
#ifdef CARCLASS_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::string Communicator::StoreAddress() const { return config_.masterAddr + ":" + std::to_string(config_.masterPort); }

Communicator::Communicator(const DistributedConfig& config) : config_(config) {
  if (config_.worldSize < 1) throw std::invalid_argument("WORLD_SIZE must be at least 1, got " + std::to_string(config_.worldSize));
  if (config_.rank < 0 || config_.rank >= config_.worldSize)
    throw std::invalid_argument("RANK " + std::to_string(config_.rank) + " is outside [0, WORLD_SIZE " + std::to_string(config_.worldSize) + ")");
  if (config_.masterPort < 1 || config_.masterPort > 65535)
    throw std::invalid_argument("MASTER_PORT " + std::to_string(config_.masterPort) + " is not a TCP port (1-65535)");
  if (!(config_.timeoutSeconds > 0)) throw std::invalid_argument("the distributed timeout must be positive");

  backend_ = config_.backend;
  if (backend_ == "auto") backend_ = HaveNccl() && torch::cuda::is_available() ? "nccl" : "gloo";
  if (backend_ != "gloo" && backend_ != "nccl") throw std::invalid_argument("unknown distributed backend '" + backend_ + "'; expected auto, gloo or nccl");
  if (backend_ == "nccl" && !HaveNccl())
    throw std::runtime_error("backend 'nccl' was requested but this LibTorch build has no NCCL (CPU build): use backend 'gloo'");
#ifndef CARCLASS_WITH_GLOO
  if (backend_ == "gloo")
    throw std::runtime_error("this carclass build has no Gloo (c10d ProcessGroupGloo headers were missing at build time): "
                             "install libgloo-dev (scripts/setup-system.sh) and rebuild with npm run build:native");
#endif

  const Millis timeout = ToMillis(config_.timeoutSeconds);
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(config_.masterPort);
  options.isServer = config_.rank == 0 && !config_.agentStore;
  options.waitWorkers = false;  // the join below waits, and names whoever is missing
  options.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    tcp = MakeStore(config_.masterAddr, options);
  } catch (...) {
    throw std::runtime_error("rank " + std::to_string(config_.rank) + ": cannot " + (options.isServer ? "host" : "reach") +
                             " the rendezvous store at " + StoreAddress() + " within " + Seconds(config_.timeoutSeconds) + ": " +
                             Describe(std::current_exception()) +
                             (options.isServer ? " (is MASTER_PORT in use?)" : " (is rank 0 running, and are MASTER_ADDR/MASTER_PORT right?)"));
  }
  // A store that outlives a worker group (torchrun's agent store, elastic restarts) still holds the
  // keys of the previous attempt: each attempt gets its own prefix.
  const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
  const std::string prefix = std::string("carclass/") + (attempt && *attempt ? attempt : "0");
  store_ = c10::make_intrusive<c10d::PrefixStore>(prefix, tcp);

  // Join: every rank announces itself, then waits for the others; a timeout names the absent ranks.
  store_->set("joined/" + std::to_string(config_.rank), Bytes(backend_));
  std::vector<std::string> keys;
  for (int r = 0; r < config_.worldSize; ++r) keys.push_back("joined/" + std::to_string(r));
  const auto deadline = Clock::now() + timeout;
  while (!store_->check(keys)) {
    if (Clock::now() > deadline) {
      std::string missing;
      for (int r = 0; r < config_.worldSize; ++r)
        if (!store_->check({keys[size_t(r)]})) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      throw std::runtime_error("rank " + std::to_string(config_.rank) + ": rank(s) " + missing + " of " + std::to_string(config_.worldSize) +
                               " did not join the rendezvous at " + StoreAddress() + " within " + Seconds(config_.timeoutSeconds) +
                               " (--dist-timeout)");
    }
    std::this_thread::sleep_for(Millis(20));
  }
  for (int r = 0; r < config_.worldSize; ++r) {
    const std::string theirs = Text(store_->get(keys[size_t(r)]));
    if (theirs != backend_)
      throw std::runtime_error("rank " + std::to_string(r) + " uses backend '" + theirs + "' but rank " + std::to_string(config_.rank) +
                               " uses '" + backend_ + "': every rank must use the same device kind");
  }

  try {
    if (backend_ == "nccl") {
#ifdef CARCLASS_WITH_NCCL
      setenv("NCCL_ASYNC_ERROR_HANDLING", "1", 0);  // a stuck collective fails after the timeout instead of hanging
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(config_.localRank));
      device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(config_.localRank));
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store_), config_.rank,
                                                           config_.worldSize, o);
#endif
    } else {
#ifdef CARCLASS_WITH_GLOO
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname)
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (IsLoopback(config_.masterAddr))
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 1;  // one transport thread: buckets are reduced in order anyway
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store_), config_.rank,
                                                           config_.worldSize, o);
#endif
    }
  } catch (...) {
    throw std::runtime_error("rank " + std::to_string(config_.rank) + ": could not build the " + backend_ + " process group: " +
                             Describe(std::current_exception()));
  }

  // The heartbeat has its own store connection, so a blocked collective never delays it.
  c10d::TCPStoreOptions client = options;
  client.isServer = false;
  heartbeatStore_ = c10::make_intrusive<c10d::PrefixStore>(prefix, MakeStore(config_.masterAddr, client));
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

Communicator::~Communicator() {
  try {
    Close(false);
  } catch (...) {
  }
}

void Communicator::HeartbeatLoop() {
  int64_t beat = 0;
  const std::string key = "heartbeat/" + std::to_string(config_.rank);
  while (!stopHeartbeat_) {
    try {
      heartbeatStore_->set(key, Bytes(std::to_string(++beat) + " " + std::to_string(step_.load())));
    } catch (...) {
      return;  // the store is gone: the collectives will say so
    }
    for (int i = 0; i < 10 && !stopHeartbeat_; ++i) std::this_thread::sleep_for(ToMillis(config_.heartbeatSeconds / 10));
  }
}

void Communicator::ReportFailure(const std::string& message) {
  try {
    std::lock_guard<std::mutex> lock(storeMutex_);
    store_->set("failed/" + std::to_string(config_.rank), Bytes(message));
  } catch (...) {
  }
}

// Who stopped: a rank that left a failure note, one whose heartbeat stopped (killed, crashed, machine
// gone), or one that is alive but behind (hung in its own work). Rank 0 hosts the store: if it cannot
// be read, rank 0 is the one gone.
std::string Communicator::Diagnose() {
  std::lock_guard<std::mutex> lock(storeMutex_);
  try {
    store_->setTimeout(ToMillis(std::max(2.0, config_.heartbeatSeconds * 4)));
    auto read = [&](const std::string& key) -> std::string { return store_->check({key}) ? Text(store_->get(key)) : std::string(); };
    std::vector<std::string> first(size_t(config_.worldSize)), second(size_t(config_.worldSize));
    for (int r = 0; r < config_.worldSize; ++r) first[size_t(r)] = read("heartbeat/" + std::to_string(r));
    std::this_thread::sleep_for(ToMillis(config_.heartbeatSeconds * 3));
    std::vector<std::string> notes, silent, behind;
    const int64_t mine = step_.load();
    for (int r = 0; r < config_.worldSize; ++r) {
      if (r == config_.rank) continue;
      const std::string note = read("failed/" + std::to_string(r));
      if (!note.empty()) {
        notes.push_back("rank " + std::to_string(r) + " failed: " + note);
        continue;
      }
      second[size_t(r)] = read("heartbeat/" + std::to_string(r));
      if (second[size_t(r)] == first[size_t(r)]) {
        silent.push_back(std::to_string(r));
        continue;
      }
      const auto space = second[size_t(r)].find(' ');
      const int64_t theirs = space == std::string::npos ? 0 : std::atoll(second[size_t(r)].c_str() + space + 1);
      if (theirs < mine) behind.push_back("rank " + std::to_string(r) + " is alive but still at step " + std::to_string(theirs) + " (this rank is at step " + std::to_string(mine) + ")");
    }
    std::string out;
    auto add = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
    for (const auto& n : notes) add(n);
    if (!silent.empty()) {
      std::string list;
      for (const auto& s : silent) list += (list.empty() ? "" : ", ") + s;
      add("rank " + list + " stopped responding (no heartbeat: killed, crashed or its machine is gone)");
    }
    for (const auto& b : behind) add(b);
    return out.empty() ? "no other rank reported a problem" : out;
  } catch (...) {
    return config_.rank == 0 ? "the rendezvous store failed: " + Describe(std::current_exception())
                             : "rank 0, which hosts the rendezvous store at " + StoreAddress() + ", is unreachable (it exited, was killed or its machine is gone)";
  }
}

void Communicator::Fail(const std::string& what, const std::string& cause) {
  const std::string diagnosis = Diagnose();
  const std::string message = "distributed " + what + " failed on rank " + std::to_string(config_.rank) + ": " + diagnosis + " [" + backend_ +
                              ": " + cause + "; timeout " + Seconds(config_.timeoutSeconds) + "]";
  ReportFailure("its " + what + " failed (" + diagnosis + ")");
  throw std::runtime_error(message);
}

void Communicator::Wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
  try {
    work->wait();
  } catch (...) {
    Fail(what, Describe(std::current_exception()));
  }
}

c10::intrusive_ptr<c10d::Work> Communicator::AllreduceSumAsync(torch::Tensor& tensor) {
  if (closed_) throw std::runtime_error("the distributed process group is closed");
  std::vector<torch::Tensor> list{tensor};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  return group_->allreduce(list, o);
}

void Communicator::Run(const std::string& what, const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
  if (closed_) throw std::runtime_error("the distributed process group is closed");
  c10::intrusive_ptr<c10d::Work> work;
  try {
    work = start();
  } catch (...) {
    Fail(what, Describe(std::current_exception()));
  }
  Wait(work, what);
}

void Communicator::AllreduceSum(torch::Tensor& tensor, const std::string& what) {
  Run(what, [&] { return AllreduceSumAsync(tensor); });
}

void Communicator::Broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) {
  for (auto& t : tensors) {
    std::vector<torch::Tensor> list{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    Run(what, [&] { return group_->broadcast(list, o); });
  }
}

std::vector<std::string> Communicator::AllGatherBytes(const std::string& bytes, const std::string& what) {
  if (closed_) throw std::runtime_error("the distributed process group is closed");
  const int world = config_.worldSize;
  auto sizes = torch::zeros({world}, torch::TensorOptions().dtype(torch::kInt64));
  sizes[config_.rank] = static_cast<int64_t>(bytes.size());
  sizes = sizes.to(device_);
  AllreduceSum(sizes, what + " (sizes)");
  sizes = sizes.to(torch::kCPU);
  const int64_t longest = std::max<int64_t>(1, sizes.max().item<int64_t>());
  auto mine = torch::zeros({longest}, torch::TensorOptions().dtype(torch::kUInt8));
  if (!bytes.empty()) std::memcpy(mine.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  mine = mine.to(device_);
  std::vector<torch::Tensor> input{mine};
  std::vector<std::vector<torch::Tensor>> output(1);
  for (int r = 0; r < world; ++r) output[0].push_back(torch::empty({longest}, mine.options()));
  Run(what, [&] { return group_->allgather(output, input); });
  std::vector<std::string> out;
  for (int r = 0; r < world; ++r) {
    auto cpu = output[0][size_t(r)].to(torch::kCPU);
    out.emplace_back(reinterpret_cast<const char*>(cpu.data_ptr<uint8_t>()), size_t(sizes[r].item<int64_t>()));
  }
  return out;
}

void Communicator::Barrier(const std::string& what) {
  // An all-reduce rather than c10d's barrier: it has the same bounded timeout and diagnosis on every backend.
  auto t = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  AllreduceSum(t, what);
}

void Communicator::Close(bool graceful) {
  if (closed_) return;
  if (graceful) Barrier("shutdown barrier");
  closed_ = true;
  stopHeartbeat_ = true;
  if (heartbeat_.joinable()) heartbeat_.join();
  group_.reset();
  heartbeatStore_.reset();
  store_.reset();
}

}  // namespace carclass::distributed
