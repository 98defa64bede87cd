// Package v1alpha1 is the tensile.dev/v1alpha1 API: the objects this project keeps in
// the upper cluster (lower-cluster capacity summaries, placement exclusions).
//
// +k8s:deepcopy-gen=package
// +groupName=tensile.dev
package v1alpha1
