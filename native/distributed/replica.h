// What makes replicas identical: rank 0's weights, BN statistics and Adam state copied to every
// rank at start, and a debug check that compares a checksum of that state across ranks.
#pragma once
#include <cstdint>
#include <string>

#include "distributed/communicator.h"
#include "engine/engine.h"

namespace carclass::distributed {

// Broadcasts weights, BN moving statistics, Adam moments (which exist only where a param has
// stepped) and the optimizer step count from rank 0, in buckets of at most `bucketMegabytes`.
void BroadcastTrainingState(Communicator& comm, Engine& engine, double bucketMegabytes);

// FNV-1a over the bytes of every weight and Adam moment, and the step count. BN moving statistics
// are left out: they follow each replica's own batches, as in DDP.
uint64_t TrainingStateChecksum(const Engine& engine);

// Throws, on every rank alike, when some rank's checksum differs from rank 0's; names those ranks.
void CheckReplicasAgree(Communicator& comm, Engine& engine, const std::string& when);

}  // namespace carclass::distributed
