// Package fakeclient is client-go's fake clientset with two behaviours of the API
// server that unit tests of informer-driven code depend on and the fake lacks: created
// objects get a UID, and watches honour their label selector (the fake only filters
// lists), so a label-selected informer sees what it would see in a real cluster.
package fakeclient

import (
	"fmt"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// NewClientset returns a fake clientset holding objs. Objects created through it
// without a UID get "<name>-uid-<n>".
func NewClientset(name string, objs ...runtime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	var n atomic.Int64
	c.PrependReactor("create", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if m, err := meta.Accessor(a.(clienttesting.CreateAction).GetObject()); err == nil && m.GetUID() == "" {
			m.SetUID(types.UID(fmt.Sprintf("%s-uid-%d", name, n.Add(1))))
		}
		return false, nil, nil
	})
	c.PrependWatchReactor("*", func(a clienttesting.Action) (bool, watch.Interface, error) {
		opts := a.(clienttesting.WatchActionImpl).ListOptions
		sel, err := labels.Parse(opts.LabelSelector)
		if err != nil {
			return true, nil, err
		}
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace(), opts)
		if err != nil {
			return true, nil, err
		}
		return true, watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
			m, err := meta.Accessor(ev.Object)
			return ev, err != nil || sel.Matches(labels.Set(m.GetLabels()))
		}), nil
	})
	return c
}
