// Node-API surface of native/distributed: initDistributed() -> NativeDistributed, whose collectives
// run on the engine's compute thread so they are ordered with the train steps on every rank.
#include <map>
#include <mutex>

#include "binding/common.h"
#include "distributed/communicator.h"
#include "distributed/gradient_sync.h"
#include "distributed/replica.h"
#include "engine/engine.h"
#include "engine/executor.h"

namespace carclass {
namespace {

using distributed::BucketedGradientSync;
using distributed::Communicator;
using CommPtr = std::shared_ptr<Communicator>;
using EnginePtr = std::shared_ptr<Engine>;

class DistributedWrap : public Napi::ObjectWrap<DistributedWrap> {
 public:
  static Napi::FunctionReference* constructor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "NativeDistributed",
        {InstanceMethod("info", &DistributedWrap::Info), InstanceMethod("allreduceSum", &DistributedWrap::AllreduceSum),
         InstanceMethod("allgatherBytes", &DistributedWrap::AllgatherBytes), InstanceMethod("barrier", &DistributedWrap::Barrier),
         InstanceMethod("broadcastModel", &DistributedWrap::BroadcastModel), InstanceMethod("attachModel", &DistributedWrap::AttachModel),
         InstanceMethod("detachModel", &DistributedWrap::DetachModel), InstanceMethod("checkReplicas", &DistributedWrap::CheckReplicas),
         InstanceMethod("syncStats", &DistributedWrap::SyncStats), InstanceMethod("resetSyncStats", &DistributedWrap::ResetSyncStats),
         InstanceMethod("reportFailure", &DistributedWrap::ReportFailure), InstanceMethod("close", &DistributedWrap::Close)});
    constructor = new Napi::FunctionReference(Napi::Persistent(cls));
    exports.Set("NativeDistributed", cls);
  }

  explicit DistributedWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DistributedWrap>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "NativeDistributed is created by initDistributed()");
    comm_ = *info[0].As<Napi::External<CommPtr>>().Data();
  }

 private:
  // Collectives share the compute thread with train steps: one order on every rank.
  template <typename Result, typename Work>
  Napi::Promise Collective(Napi::Env env, Work work, typename PromiseWorker<Result>::Done done) {
    CommPtr comm = comm_;
    return RunAsync<Result>(
        env,
        [comm, work]() -> Result {
          if (comm->closed()) throw std::runtime_error("the distributed process group is closed");
          return Executor::Shared().Run([&]() -> Result { return work(*comm); });
        },
        std::move(done));
  }

  template <typename Work>
  Napi::Promise WithEngine(Napi::Env env, EnginePtr engine, Work work) {
    return Collective<bool>(
        env,
        [engine, work](Communicator& comm) {
          std::lock_guard<std::mutex> lock(engine->mutex());
          work(comm, *engine);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("rank", comm_->rank());
    o.Set("worldSize", comm_->worldSize());
    o.Set("localRank", comm_->config().localRank);
    o.Set("backend", comm_->backend());
    o.Set("device", comm_->device().str());
    o.Set("timeoutSeconds", comm_->config().timeoutSeconds);
    o.Set("closed", comm_->closed());
    return o;
  }

  Napi::Value AllreduceSum(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw Napi::TypeError::New(env, "Expected Float64Array for values");
    auto a = info[0].As<Napi::Float64Array>();
    std::vector<double> values(a.Data(), a.Data() + a.ElementLength());
    const std::string what = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "all-reduce";
    return Collective<std::vector<double>>(
        env,
        [values, what](Communicator& comm) {
          auto t = torch::from_blob(const_cast<double*>(values.data()), {int64_t(values.size())}, torch::kFloat64).to(comm.device());
          if (values.empty()) return values;
          comm.AllreduceSum(t, what);
          t = t.to(torch::kCPU).contiguous();
          return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
        },
        [](Napi::Env env, std::vector<double>& v) -> Napi::Value {
          auto out = Napi::Float64Array::New(env, v.size());
          std::copy(v.begin(), v.end(), out.Data());
          return out;
        });
  }

  Napi::Value AllgatherBytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw Napi::TypeError::New(env, "Expected Uint8Array for bytes");
    auto a = info[0].As<Napi::Uint8Array>();
    std::string bytes(reinterpret_cast<const char*>(a.Data()), a.ElementLength());
    const std::string what = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "all-gather";
    return Collective<std::vector<std::string>>(
        env, [bytes, what](Communicator& comm) { return comm.AllGatherBytes(bytes, what); },
        [](Napi::Env env, std::vector<std::string>& parts) -> Napi::Value {
          Napi::Array out = Napi::Array::New(env, parts.size());
          for (size_t r = 0; r < parts.size(); ++r) {
            auto b = Napi::Uint8Array::New(env, parts[r].size());
            std::copy(parts[r].begin(), parts[r].end(), b.Data());
            out.Set(static_cast<uint32_t>(r), b);
          }
          return out;
        });
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    return Collective<bool>(
        info.Env(),
        [](Communicator& comm) {
          comm.Barrier("barrier");
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value BroadcastModel(const Napi::CallbackInfo& info) {
    EnginePtr engine = UnwrapEngine(info[0]);
    const double mb = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 25;
    return WithEngine(info.Env(), engine, [mb](Communicator& comm, Engine& e) { distributed::BroadcastTrainingState(comm, e, mb); });
  }

  Napi::Value AttachModel(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnginePtr engine = UnwrapEngine(info[0]);
    distributed::GradientSyncOptions o;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object opts = info[1].As<Napi::Object>();
      o.bucketMegabytes = GetNumber(opts, "bucketMegabytes", o.bucketMegabytes);
      o.overlap = GetBool(opts, "overlap", o.overlap);
    }
    std::unique_lock<std::mutex> lock(engine->mutex(), std::try_to_lock);
    if (!lock.owns_lock()) throw Napi::Error::New(env, "the model is busy with a step; await it before attaching it");
    try {
      auto sync = std::make_shared<BucketedGradientSync>(comm_, o);
      engine->SetGradientSync(sync);
      syncs_[engine.get()] = sync;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return env.Undefined();
  }

  Napi::Value DetachModel(const Napi::CallbackInfo& info) {
    EnginePtr engine = UnwrapEngine(info[0]);
    std::unique_lock<std::mutex> lock(engine->mutex(), std::try_to_lock);
    if (!lock.owns_lock()) throw Napi::Error::New(info.Env(), "the model is busy with a step; await it before detaching it");
    engine->SetGradientSync(nullptr);
    syncs_.erase(engine.get());
    return info.Env().Undefined();
  }

  Napi::Value CheckReplicas(const Napi::CallbackInfo& info) {
    EnginePtr engine = UnwrapEngine(info[0]);
    const std::string when = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    return WithEngine(info.Env(), engine, [when](Communicator& comm, Engine& e) { distributed::CheckReplicasAgree(comm, e, when); });
  }

  std::shared_ptr<BucketedGradientSync> SyncOf(const Napi::CallbackInfo& info) {
    EnginePtr engine = UnwrapEngine(info[0]);
    auto it = syncs_.find(engine.get());
    auto sync = it == syncs_.end() ? nullptr : it->second.lock();
    if (!sync) throw Napi::Error::New(info.Env(), "this model is not attached (call attachModel first)");
    return sync;
  }

  Napi::Value SyncStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto s = SyncOf(info)->Stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("steps", Napi::Number::New(env, static_cast<double>(s.steps)));
    o.Set("buckets", Napi::Number::New(env, static_cast<double>(s.buckets)));
    o.Set("backwardSeconds", s.backwardSeconds);
    o.Set("exposedSeconds", s.exposedSeconds);
    o.Set("commSeconds", s.commSeconds);
    o.Set("bytesPerStep", s.bucketBytes);
    return o;
  }

  Napi::Value ResetSyncStats(const Napi::CallbackInfo& info) {
    SyncOf(info)->ResetStats();
    return info.Env().Undefined();
  }

  Napi::Value ReportFailure(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "Expected string for message");
    comm_->ReportFailure(info[0].As<Napi::String>().Utf8Value());
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    const bool graceful = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
    CommPtr comm = comm_;
    return RunAsync<bool>(
        info.Env(),
        [comm, graceful] {
          return Executor::Shared().Run([&] {
            comm->Close(graceful);
            return true;
          });
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  CommPtr comm_;
  // Weak: the engine owns its sync (whose hooks live on the engine's network), so it goes with the engine.
  std::map<const Engine*, std::weak_ptr<BucketedGradientSync>> syncs_;
};

Napi::FunctionReference* DistributedWrap::constructor = nullptr;

void DeleteCommPtr(Napi::Env, CommPtr* p) { delete p; }

Napi::Value InitDistributedJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Expected a distributed config object");
  Napi::Object o = info[0].As<Napi::Object>();
  distributed::DistributedConfig c;
  c.rank = static_cast<int>(GetInt(o, "rank", 0));
  c.worldSize = static_cast<int>(GetInt(o, "worldSize", 1));
  c.localRank = static_cast<int>(GetInt(o, "localRank", 0));
  c.masterAddr = GetString(o, "masterAddr", c.masterAddr);
  c.masterPort = static_cast<int>(GetInt(o, "masterPort", c.masterPort));
  c.timeoutSeconds = GetNumber(o, "timeoutSeconds", c.timeoutSeconds);
  c.backend = GetString(o, "backend", c.backend);
  c.agentStore = GetBool(o, "agentStore", false);
  c.heartbeatSeconds = GetNumber(o, "heartbeatSeconds", c.heartbeatSeconds);
  return RunAsync<CommPtr>(
      env, [c] { return std::make_shared<Communicator>(c); },
      [](Napi::Env env, CommPtr& comm) -> Napi::Value {
        auto external = Napi::External<CommPtr>::New(env, new CommPtr(comm), DeleteCommPtr);
        return DistributedWrap::constructor->New({external});
      });
}

}  // namespace

void InitDistributed(Napi::Env env, Napi::Object exports) {
  DistributedWrap::Init(env, exports);
  exports.Set("initDistributed", Napi::Function::New(env, InitDistributedJs, "initDistributed"));
  exports.Set("distributedBackends", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
#ifdef CARCLASS_WITH_GLOO
    o.Set("gloo", true);
#else
    o.Set("gloo", false);
#endif
    o.Set("nccl", distributed::HaveNccl());
    return o;
  }, "distributedBackends"));
}

}  // namespace carclass
