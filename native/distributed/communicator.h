// A c10d process group for data-parallel replicas: rendezvous through a TCPStore (the torchrun
// contract: rank 0 hosts it at MASTER_ADDR:MASTER_PORT), Gloo on CPU, NCCL on CUDA builds that have
// it. Every collective is bounded by the timeout; a failure names the rank that caused it, found
// through per-rank heartbeats and failure notes kept in the store.
#pragma once
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <torch/torch.h>
#include <torch/version.h>  // TORCH_VERSION_MAJOR

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace carclass::distributed {

// ProcessGroupGloo/NCCL derive from ProcessGroup in LibTorch 1.x and from Backend in 2.x.
#if TORCH_VERSION_MAJOR >= 2
using CollectiveGroup = c10d::Backend;
#else
using CollectiveGroup = c10d::ProcessGroup;
#endif

struct DistributedConfig {
  int rank = 0;
  int worldSize = 1;
  int localRank = 0;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  double timeoutSeconds = 120;     // rendezvous, each collective, and the wait for a silent rank
  std::string backend = "auto";    // auto (nccl when CUDA and NCCL are there, else gloo) | gloo | nccl
  bool agentStore = false;         // the launcher hosts the store (torchrun TORCHELASTIC_USE_AGENT_STORE=True)
  double heartbeatSeconds = 0.5;
};

// Whether this build can create an NCCL process group (LibTorch with USE_C10D_NCCL).
bool HaveNccl();

class Communicator {
 public:
  // Connects to the store, waits for every rank (naming the missing ones on timeout) and builds the group.
  explicit Communicator(const DistributedConfig& config);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return config_.rank; }
  int worldSize() const { return config_.worldSize; }
  const std::string& backend() const { return backend_; }
  const DistributedConfig& config() const { return config_; }
  // Collective tensors live here: cuda:LOCAL_RANK for NCCL, the CPU for Gloo.
  torch::Device device() const { return device_; }

  // Blocking collectives; on failure they throw a std::runtime_error that names the guilty rank.
  void Broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what);
  void AllreduceSum(torch::Tensor& tensor, const std::string& what);
  std::vector<std::string> AllGatherBytes(const std::string& bytes, const std::string& what);
  void Barrier(const std::string& what);

  // Asynchronous all-reduce (sum) for gradient buckets; Wait() diagnoses a failure like the blocking calls.
  c10::intrusive_ptr<c10d::Work> AllreduceSumAsync(torch::Tensor& tensor);
  void Wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what);

  // Progress shown to the other ranks with the heartbeat (a rank that stops advancing is the one to name).
  void SetStep(int64_t step) { step_.store(step); }
  // Leaves this rank's reason for stopping where the others look when their collectives fail.
  void ReportFailure(const std::string& message);
  // Stops the heartbeat and tears the group down (after a barrier when `graceful`).
  void Close(bool graceful);
  bool closed() const { return closed_; }

 private:
  [[noreturn]] void Fail(const std::string& what, const std::string& cause);
  // Starts one collective and waits for it; either failing is diagnosed.
  void Run(const std::string& what, const std::function<c10::intrusive_ptr<c10d::Work>()>& start);
  std::string Diagnose();
  void HeartbeatLoop();
  std::string StoreAddress() const;

  DistributedConfig config_;
  std::string backend_;
  torch::Device device_{torch::kCPU};
  c10::intrusive_ptr<c10d::Store> store_;           // rank 0 (without an agent store) hosts the server
  c10::intrusive_ptr<c10d::Store> heartbeatStore_;  // its own connection: used from the heartbeat thread
  c10::intrusive_ptr<CollectiveGroup> group_;
  std::mutex storeMutex_;
  std::atomic<int64_t> step_{0};
  std::atomic<bool> stopHeartbeat_{false};
  std::thread heartbeat_;
  bool closed_ = false;
};

}  // namespace carclass::distributed
