#include "distributed/replica.h"

#include <cstring>
#include <sstream>
#include <stdexcept>

namespace carclass::distributed {

namespace {

// Copies `tensors` through flat buffers of at most `capBytes` (one broadcast each, in order).
void BroadcastFlat(Communicator& comm, std::vector<torch::Tensor>& tensors, int64_t capBytes, const std::string& what) {
  torch::NoGradGuard noGrad;
  size_t i = 0;
  while (i < tensors.size()) {
    size_t j = i;
    int64_t bytes = 0;
    while (j < tensors.size() && (j == i || bytes + tensors[j].numel() * 4 <= capBytes)) bytes += tensors[j++].numel() * 4;
    std::vector<torch::Tensor> parts;
    for (size_t k = i; k < j; ++k) parts.push_back(tensors[k].detach().reshape({-1}).to(comm.device(), torch::kFloat32));
    std::vector<torch::Tensor> flat{torch::cat(parts)};
    comm.Broadcast(flat, 0, what);
    int64_t offset = 0;
    for (size_t k = i; k < j; ++k) {
      auto& t = tensors[k];
      t.copy_(flat[0].narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
    i = j;
  }
}

}  // namespace

void BroadcastTrainingState(Communicator& comm, Engine& engine, double bucketMegabytes) {
  auto& params = engine.network().params();
  auto& m = engine.adamMoments(false);
  auto& v = engine.adamMoments(true);
  // Which params have Adam moments, and the step count, first: the tensors to send depend on them.
  auto meta = torch::zeros({static_cast<int64_t>(params.size()) + 1}, torch::kFloat64);
  meta[0] = static_cast<double>(engine.iterations());
  for (size_t i = 0; i < params.size(); ++i) meta[int64_t(i) + 1] = m[i].defined() ? 1.0 : 0.0;
  std::vector<torch::Tensor> metaList{meta.to(comm.device())};
  comm.Broadcast(metaList, 0, "broadcast of the optimizer state");
  meta = metaList[0].to(torch::kCPU);
  engine.SetIterations(static_cast<int64_t>(meta[0].item<double>()));
  std::vector<torch::Tensor> tensors;
  for (auto& p : params) tensors.push_back(p.value);
  for (size_t i = 0; i < params.size(); ++i) {
    const bool has = meta[int64_t(i) + 1].item<double>() > 0;
    if (has && !m[i].defined()) {
      m[i] = torch::zeros_like(params[i].value);
      v[i] = torch::zeros_like(params[i].value);
    } else if (!has) {
      m[i] = torch::Tensor();
      v[i] = torch::Tensor();
    }
    if (has) {
      tensors.push_back(m[i]);
      tensors.push_back(v[i]);
    }
  }
  BroadcastFlat(comm, tensors, static_cast<int64_t>(bucketMegabytes * 1024 * 1024), "broadcast of rank 0's weights");
}

uint64_t TrainingStateChecksum(const Engine& engine) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  auto add = [&](const torch::Tensor& t) {
    if (!t.defined()) {
      mix("-", 1);
      return;
    }
    auto c = t.detach().to(torch::kCPU).contiguous();
    mix(c.data_ptr(), size_t(c.numel()) * c.element_size());
  };
  auto& e = const_cast<Engine&>(engine);
  const auto& params = engine.network().params();
  for (size_t i = 0; i < params.size(); ++i) {
    // BN moving statistics stay per replica (as DDP and MirroredStrategy do): not part of the agreement.
    if (params[i].isStatistic) continue;
    add(params[i].value);
    add(e.adamMoments(false)[i]);
    add(e.adamMoments(true)[i]);
  }
  const int64_t it = engine.iterations();
  mix(&it, sizeof(it));
  return h;
}

void CheckReplicasAgree(Communicator& comm, Engine& engine, const std::string& when) {
  const uint64_t mine = TrainingStateChecksum(engine);
  std::string bytes(sizeof(mine), '\0');
  std::memcpy(bytes.data(), &mine, sizeof(mine));
  const auto all = comm.AllGatherBytes(bytes, "weight checksum comparison");
  uint64_t reference = 0;
  std::memcpy(&reference, all[0].data(), sizeof(reference));
  std::ostringstream differ;
  int count = 0;
  for (size_t r = 1; r < all.size(); ++r) {
    uint64_t theirs = 0;
    std::memcpy(&theirs, all[r].data(), sizeof(theirs));
    if (theirs != reference) differ << (count++ ? ", " : "") << "rank " << r << " (" << std::hex << theirs << std::dec << ")";
  }
  if (count)
    throw std::runtime_error("replicas diverged " + when + ": the weights/optimizer checksum of " + differ.str() + " differs from rank 0's (" +
                             [&] { std::ostringstream o; o << std::hex << reference; return o.str(); }() + ")");
}

}  // namespace carclass::distributed
