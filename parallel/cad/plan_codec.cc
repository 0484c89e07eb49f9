#include "parallel/cad/plan_codec.h"

#include <fmt/format.h>

#include "framework/core/error.h"
#include "parallel/cad/cad_plan.pb.h"

namespace attn::cad {

namespace {

[[noreturn]] void reject(const std::string& what) {
  throw Error(ErrorKind::kInput, "CAD plan", what);
}

}  // namespace

std::string encode_plan(const Plan& plan) {
  attnlab::cad::CadPlan p;
  p.set_version(kPlanVersion);
  p.set_servers(plan.servers);
  for (const Task& t : plan.tasks) {
    attnlab::cad::CadTask* k = p.add_tasks();
    k->set_doc(t.doc);
    k->set_q_begin(t.q_begin);
    k->set_q_end(t.q_end);
    k->set_server(t.server);
    k->set_home(t.home);
  }
  p.set_hash(plan.hash());
  return p.SerializeAsString();
}

Plan decode_plan(std::string_view bytes, const WorkerLayout& layout, const PlannerOptions& o) {
  attnlab::cad::CadPlan p;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    reject(fmt::format("{} bytes do not parse as a CadPlan", bytes.size()));
  if (p.version() != kPlanVersion)
    reject(fmt::format("version {}, this attnlab reads version {}", p.version(), kPlanVersion));
  if (!p.GetReflection()->GetUnknownFields(p).empty()) reject("fields this version does not know");
  Plan plan;
  plan.servers = p.servers();
  plan.eps = o.eps;
  for (const attnlab::cad::CadTask& k : p.tasks()) {
    if (!k.GetReflection()->GetUnknownFields(k).empty())
      reject("a task with fields this version does not know");
    plan.tasks.push_back({k.doc(), k.q_begin(), k.q_end(), k.server(), k.home()});
  }
  if (plan.hash() != p.hash())
    reject(
        fmt::format("hash {:016x} does not match its contents ({:016x})", p.hash(), plan.hash()));
  check_plan(layout, plan);
  plan.load.assign(plan.servers, 0);
  for (const Task& t : plan.tasks) plan.load[t.server] += o.cost.cost(t.q_begin, t.q_end);
  plan.traffic = plan_traffic(layout, plan.tasks, o.bytes);
  return plan;
}

}  // namespace attn::cad
