package capacity

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// NodeHandler returns the handler to register on the lower cluster's node informer.
func (m *Model) NodeHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*corev1.Node); ok {
				m.SetNode(n)
			}
		},
		UpdateFunc: func(_, obj any) {
			if n, ok := obj.(*corev1.Node); ok {
				m.SetNode(n)
			}
		},
		DeleteFunc: func(obj any) {
			if _, name, ok := deletedKey(obj); ok {
				m.DeleteNode(name)
			}
		},
	}
}

// PodHandler returns the handler to register on the lower cluster's pod informer (all
// namespaces; a field selector is not needed, unbound pods are ignored cheaply).
func (m *Model) PodHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				m.SetPod(p)
			}
		},
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				m.SetPod(p)
			}
		},
		DeleteFunc: func(obj any) {
			if ns, name, ok := deletedKey(obj); ok {
				m.DeletePod(ns, name)
			}
		},
	}
}

// deletedKey returns the namespace and name of a deleted object, which the informer
// hands over either as the object or, when it missed the delete, as a tombstone.
func deletedKey(obj any) (namespace, name string, ok bool) {
	if t, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
		ns, n, err := cache.SplitMetaNamespaceKey(t.Key)
		return ns, n, err == nil
	}
	switch o := obj.(type) {
	case *corev1.Node:
		return "", o.Name, true
	case *corev1.Pod:
		return o.Namespace, o.Name, true
	}
	return "", "", false
}
