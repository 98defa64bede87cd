// Package recreateunschedulable is a descheduler plugin that moves pods off virtual
// nodes whose lower cluster cannot run them.
//
// A pod bound to a virtual node stays Pending when the lower cluster's scheduler cannot
// place it; the virtual node reflects that as PodScheduled=False/Unschedulable on the
// upper pod. The plugin RecreateUnschedulable (a Deschedule plugin) finds such pods and
// makes them run elsewhere by excluding the virtual node
// (`kubernetes.io/hostname NotIn [...]` in the required node affinity):
//
//   - a bare pod is re-created by the plugin with the exclusion merged into its spec,
//     under the name <original>-r<N>, after the original is evicted;
//   - a controller-owned pod is never re-created by the plugin (that would fight the
//     controller): the exclusion is recorded in a PlacementExclusion for the
//     controller and the pod is evicted; the admission webhook adds the exclusion to the
//     controller's replacement pod.
//
// Exclusions expire after ExclusionTTL, and a cap on re-creations (MaxRecreations)
// leaves a workload alone, with an Event saying why, once it has been moved too often.
//
// +k8s:defaulter-gen=TypeMeta
package recreateunschedulable
