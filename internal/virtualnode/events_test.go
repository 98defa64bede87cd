package virtualnode

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
)

func TestWithoutProviderSuccess(t *testing.T) {
	for _, tc := range []struct {
		eventType, reason string
		kept              bool
	}{
		{corev1.EventTypeNormal, "ProviderCreateSuccess", false},
		{corev1.EventTypeNormal, "ProviderUpdateSuccess", false},
		{corev1.EventTypeNormal, "ProviderDeleteSuccess", false},
		{corev1.EventTypeWarning, "ProviderCreateFailed", true},
		{corev1.EventTypeNormal, "Scheduled", true},
		{corev1.EventTypeWarning, "ForeignLowerPod", true},
	} {
		fake := record.NewFakeRecorder(1)
		withoutProviderSuccess{fake}.Event(&corev1.Pod{}, tc.eventType, tc.reason, "m")
		if got := len(fake.Events) == 1; got != tc.kept {
			t.Errorf("%s %s: kept = %v, want %v", tc.eventType, tc.reason, got, tc.kept)
		}
	}
}
