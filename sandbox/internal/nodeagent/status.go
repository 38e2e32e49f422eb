package nodeagent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusUpdater returns the pod's "something changed" signal. Changes are coalesced and posted
// to pods/status by one goroutine per pod, retried on conflicts.
func (a *Agent) statusUpdater(ctx context.Context, p *pod) func() {
	dirty := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-dirty:
			}
			time.Sleep(50 * time.Millisecond) // coalesce bursts (start of several containers)
			for attempt := 0; attempt < 5; attempt++ {
				err := a.postStatus(ctx, p)
				if err == nil || apierrors.IsNotFound(err) || ctx.Err() != nil {
					break
				}
				if !apierrors.IsConflict(err) {
					a.logf("updating status of %s: %v", p.key(), err)
				}
				time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
			}
			p.mu.Lock()
			gone := p.stopping
			p.mu.Unlock()
			if gone {
				return
			}
		}
	}()
	return func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
}

func (a *Agent) postStatus(ctx context.Context, p *pod) error {
	cur, err := a.client.CoreV1().Pods(p.namespace).Get(ctx, p.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if cur.UID != p.uid || cur.DeletionTimestamp != nil {
		return nil
	}
	cur.Status = p.status(cur)
	_, err = a.client.CoreV1().Pods(p.namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	return err
}

func containerState(c *container) (corev1.ContainerState, *corev1.ContainerState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last *corev1.ContainerState
	if c.previous != nil {
		last = &corev1.ContainerState{Terminated: terminated(c.previous)}
	}
	if c.current == nil {
		reason := c.waitReason
		if reason == "" {
			reason = "ContainerCreating"
		}
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}, last, false
	}
	select {
	case <-c.current.exited:
		if c.waitReason == "CrashLoopBackOff" {
			return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason:  "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off restarting failed container %s", c.spec.Name),
			}}, &corev1.ContainerState{Terminated: terminated(c.current)}, false
		}
		return corev1.ContainerState{Terminated: terminated(c.current)}, last, false
	default:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.current.startedAt)}}, last, true
	}
}

func terminated(r *run) *corev1.ContainerStateTerminated {
	reason := "Completed"
	if r.exitCode != 0 {
		reason = "Error"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    int32(r.exitCode),
		Reason:      reason,
		StartedAt:   metav1.NewTime(r.startedAt),
		FinishedAt:  metav1.NewTime(r.finished),
		ContainerID: "",
	}
}

func (p *pod) containerStatus(c *container) corev1.ContainerStatus {
	state, last, running := containerState(c)
	c.mu.Lock()
	restarts := c.restartCount
	c.mu.Unlock()
	if state.Terminated != nil {
		state.Terminated.ContainerID = p.containerID(c)
	}
	if last != nil && last.Terminated != nil {
		last.Terminated.ContainerID = p.containerID(c)
	}
	s := corev1.ContainerStatus{
		Name:         c.spec.Name,
		Image:        c.spec.Image,
		ImageID:      "sandbox://" + c.spec.Image,
		ContainerID:  p.containerID(c),
		State:        state,
		Ready:        running && c.kind == regularContainer,
		Started:      &running,
		RestartCount: restarts,
	}
	if last != nil {
		s.LastTerminationState = *last
	}
	return s
}

func (p *pod) containerID(c *container) string {
	return fmt.Sprintf("sandbox://%s/%s", p.uid, c.spec.Name)
}

// status computes the pod status from the local processes.
func (p *pod) status(cur *corev1.Pod) corev1.PodStatus {
	p.mu.Lock()
	containers := make(map[string]*container, len(p.containers))
	for k, v := range p.containers {
		containers[k] = v
	}
	p.mu.Unlock()

	st := corev1.PodStatus{
		HostIP:    "127.0.0.1",
		HostIPs:   []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP:     p.ip,
		PodIPs:    []corev1.PodIP{{IP: p.ip}},
		StartTime: ptrTime(p.createdAt),
		QOSClass:  corev1.PodQOSBestEffort,
	}
	if cur.Status.StartTime != nil {
		st.StartTime = cur.Status.StartTime
	}
	allRunning, anyRunning, allDone, allSucceeded, initDone := true, false, true, true, true
	for _, c := range cur.Spec.InitContainers {
		if rc, ok := containers[c.Name]; ok {
			s := p.containerStatus(rc)
			st.InitContainerStatuses = append(st.InitContainerStatuses, s)
			if s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 {
				initDone = false
			}
		}
	}
	for _, c := range cur.Spec.Containers {
		rc, ok := containers[c.Name]
		if !ok {
			continue
		}
		s := p.containerStatus(rc)
		st.ContainerStatuses = append(st.ContainerStatuses, s)
		if s.State.Running != nil {
			anyRunning = true
		} else {
			allRunning = false
		}
		if s.State.Terminated == nil {
			allDone = false
		} else if s.State.Terminated.ExitCode != 0 {
			allSucceeded = false
		}
	}
	for _, c := range cur.Spec.EphemeralContainers {
		if rc, ok := containers[c.Name]; ok {
			st.EphemeralContainerStatuses = append(st.EphemeralContainerStatuses, p.containerStatus(rc))
		}
	}
	switch {
	case allDone && len(st.ContainerStatuses) > 0 && p.restart != corev1.RestartPolicyAlways &&
		(p.restart == corev1.RestartPolicyNever || allSucceeded):
		st.Phase = corev1.PodSucceeded
		if !allSucceeded {
			st.Phase = corev1.PodFailed
		}
	case anyRunning || (!allDone && initDone && len(st.ContainerStatuses) > 0 && hasStarted(st.ContainerStatuses)):
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	ready := allRunning && anyRunning && initDone
	now := metav1.Now()
	condition := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		status := corev1.ConditionFalse
		if ok {
			status = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: status, LastTransitionTime: now}
		for _, old := range cur.Status.Conditions {
			if old.Type == t && old.Status == status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	st.Conditions = []corev1.PodCondition{
		condition(corev1.PodReadyToStartContainers, true),
		condition(corev1.PodInitialized, initDone),
		condition(corev1.ContainersReady, ready),
		condition(corev1.PodReady, ready),
		condition(corev1.PodScheduled, true),
	}
	return st
}

func hasStarted(statuses []corev1.ContainerStatus) bool {
	for _, s := range statuses {
		if s.RestartCount > 0 || s.LastTerminationState.Terminated != nil {
			return true
		}
	}
	return false
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
