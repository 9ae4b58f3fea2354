// The `containers` group: Docker 1.x's container jobs over a ContainerRuntime.
// Every ID below is a full id, a unique id prefix or a name ("web", "/web");
// an unknown one is `No such container: ID` (status 1).
//
//   create                 env Image (required), Cmd (JSON array), Env (JSON
//                          array of K=V), Name, Hostname, WorkingDir, User
//                          (uid[:gid] or name[:group]), Memory (bytes, or with
//                          a k/m/g suffix; at least 4m), CpuShares, PidsLimit,
//                          ExposedPorts (JSON array or object of "80/tcp"),
//                          PortBindings ({"80/tcp":[{"HostIp":"","HostPort":"8080"}]}),
//                          Links (["/web:db"]), RestartPolicy ({"Name":"on-failure",
//                          "MaximumRetryCount":3} or "on-failure:3"),
//                          NetworkDisabled, OpenStdin → prints the 64-hex id
//   start ID               network, /etc files, then the process
//   wait ID                blocks until it stops; prints the exit code
//   stop ID                env t (seconds, default 10): SIGTERM, then SIGKILL
//   kill ID                env signal (name or number, default KILL)
//   restart ID             env t, as stop; then start
//   container_delete ID    env force (kill a running one first), v (accepted;
//                          containers have no volumes yet, so nothing more goes)
//   containers             a JSON array like Docker's /containers/json; env
//                          all=true includes stopped containers
//   container_inspect ID   the container as JSON, Docker's shape
//   logs ID                env follow, tail (N or "all"), timestamps; stdout
//                          and stderr as the container wrote them
//   attach ID              the job's stdin to the container (OpenStdin), its
//                          output back, live, until it stops
//   top ID                 {"Titles":[...],"Processes":[[...],...]}
#ifndef BERTH_HANDLERS_CONTAINERS_CONTAINERS_H_
#define BERTH_HANDLERS_CONTAINERS_CONTAINERS_H_

#include "handlers/containers/runtime.h"
#include "handlers/group.h"

namespace berth {

// Each job's help (job_help.h), in the group's order.
std::vector<JobHelp> ContainersHelp();
// `runtime` is not owned and must outlive the engine's use of the jobs.
HandlerGroup ContainersGroup(ContainerRuntime* runtime);

}  // namespace berth

#endif  // BERTH_HANDLERS_CONTAINERS_CONTAINERS_H_
