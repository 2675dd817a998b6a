package runner

import (
	"context"

	"github.com/rivetkube/rivetkube/internal/errs"
)

// workflowStatus summarizes the actor's recorded workflow steps for the
// inspector summary.
func (in *Instance) workflowStatus(ctx context.Context) (map[string]any, error) {
	steps, err := in.rt.store.ListWorkflowSteps(ctx, in.id, "")
	if err != nil {
		return nil, errs.FromStore(err)
	}
	counts := map[string]int{}
	for _, s := range steps {
		counts[s.Status]++
	}
	return map[string]any{"steps": len(steps), "byStatus": counts}, nil
}

// workflowHistory lists every recorded step for the inspector.
func (in *Instance) workflowHistory(ctx context.Context) (map[string]any, error) {
	steps, err := in.rt.store.ListWorkflowSteps(ctx, in.id, "")
	if err != nil {
		return nil, errs.FromStore(err)
	}
	out := make([]map[string]any, 0, len(steps))
	for _, s := range steps {
		item := map[string]any{
			"workflow": s.Workflow, "seq": s.Seq, "name": s.Name, "status": s.Status,
			"attempts": s.Attempts, "result": jsonValue(s.Result), "startedAt": s.StartedAt.UnixMilli(),
		}
		if s.Error != "" {
			item["error"] = s.Error
		}
		if !s.FinishedAt.IsZero() {
			item["finishedAt"] = s.FinishedAt.UnixMilli()
		}
		out = append(out, item)
	}
	return map[string]any{"steps": out}, nil
}
