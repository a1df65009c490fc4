package spec_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/emmett-go/emmett/command"
	"github.com/emmett-go/emmett/emmett"
	"github.com/emmett-go/emmett/eventstore"
	"github.com/emmett-go/emmett/eventstore/memory"
	"github.com/emmett-go/emmett/testing/spec"
	"github.com/emmett-go/emmett/workflow"
	"github.com/stretchr/testify/assert"
)

// A reminder workflow: a task opened is reminded (a command) an hour
// later unless it was closed.

type TaskInput interface{ isTaskInput() }
type TaskOpened struct{ TaskID string }
type TaskClosed struct{ TaskID string }
type ReminderDue struct{ TaskID string }

func (TaskOpened) isTaskInput()  {}
func (TaskClosed) isTaskInput()  {}
func (ReminderDue) isTaskInput() {}

type TaskOutput interface{ isTaskOutput() }
type Remind struct{ TaskID string }
type Reminded struct{ TaskID string }

func (Remind) isTaskOutput()   {}
func (Reminded) isTaskOutput() {}

var errClosedTwice = errors.New("closed twice")

var reminders = workflow.Workflow[TaskInput, string, TaskOutput]{
	Name: "reminders",
	ID: func(in TaskInput) string {
		switch in := in.(type) {
		case TaskOpened:
			return in.TaskID
		case TaskClosed:
			return in.TaskID
		case ReminderDue:
			return in.TaskID
		}
		return ""
	},
	Decide: func(in TaskInput, state string) ([]workflow.Output[TaskInput, TaskOutput], error) {
		switch in := in.(type) {
		case TaskOpened:
			return []workflow.Output[TaskInput, TaskOutput]{{Schedule: ReminderDue(in), After: time.Hour}}, nil
		case TaskClosed:
			if state == "closed" {
				return nil, errClosedTwice
			}
		case ReminderDue:
			if state == "open" {
				return []workflow.Output[TaskInput, TaskOutput]{{Send: Remind(in)}, {Publish: Reminded(in), To: "reminders_log-" + in.TaskID}}, nil
			}
		}
		return nil, nil
	},
	Evolve: func(state string, m workflow.Message[TaskInput, TaskOutput]) string {
		if m.Kind != workflow.Received {
			return state
		}
		switch m.Input.(type) {
		case TaskOpened:
			return "open"
		case TaskClosed:
			return "closed"
		}
		return state
	},
	InitialState: func() string { return "" },
}

func TestWorkflowSpec(t *testing.T) {
	spec.ForWorkflow(t, reminders).
		When(TaskOpened{TaskID: "1"}).
		Then(workflow.Output[TaskInput, TaskOutput]{Schedule: ReminderDue{TaskID: "1"}, After: time.Hour}).
		ThenState("open")
	spec.ForWorkflow(t, reminders).
		Given(TaskOpened{TaskID: "1"}).
		When(ReminderDue{TaskID: "1"}).
		Then(workflow.Output[TaskInput, TaskOutput]{Send: Remind{TaskID: "1"}},
			workflow.Output[TaskInput, TaskOutput]{Publish: Reminded{TaskID: "1"}, To: "reminders_log-1"})
	spec.ForWorkflow(t, reminders).
		Given(TaskOpened{TaskID: "1"}, TaskClosed{TaskID: "1"}).
		When(ReminderDue{TaskID: "1"}).
		ThenNothing()
	spec.ForWorkflow(t, reminders).
		Given(TaskOpened{TaskID: "1"}, TaskClosed{TaskID: "1"}).
		When(TaskClosed{TaskID: "1"}).
		ThenError(errClosedTwice)
}

func TestWorkflowSpecFailures(t *testing.T) {
	failing := func(check func(t testing.TB)) bool { return run(t, check).failed }
	assert.True(t, failing(func(t testing.TB) {
		spec.ForWorkflow(t, reminders).When(TaskOpened{TaskID: "1"}).ThenNothing()
	}), "outputs where none were expected")
	assert.True(t, failing(func(t testing.TB) {
		spec.ForWorkflow(t, reminders).When(TaskOpened{TaskID: "1"}).ThenError(errClosedTwice)
	}), "no error where one was expected")
	assert.True(t, failing(func(t testing.TB) {
		spec.ForWorkflow(t, reminders).When(TaskOpened{TaskID: "1"}).Then()
	}), "other outputs")
}

var (
	taskInputs  = emmett.NewEvents[TaskInput](TaskOpened{}, TaskClosed{}, ReminderDue{})
	taskOutputs = emmett.NewEvents[TaskOutput](Remind{}, Reminded{})
)

func TestWorkflowProcessorSpec(t *testing.T) {
	store := memory.New()
	var reminded []string
	r := command.NewRouter()
	command.Route(r, func(_ context.Context, c Remind, _ ...eventstore.AppendOption) error {
		reminded = append(reminded, c.TaskID)
		return nil
	})
	later := time.Now()
	p := workflow.NewProcessor(store, reminders, taskInputs, taskOutputs, r, workflow.WithClock(func() time.Time { return later }))
	run := spec.ForWorkflowProcessor(t, store, p, taskInputs).
		Given("task-1", TaskOpened{TaskID: "1"}).
		Given("task-2", TaskOpened{TaskID: "2"}).
		When("task-2", TaskClosed{TaskID: "2"}).
		ThenStream("reminders-1", "received:TaskOpened", "scheduled:ReminderDue").
		ThenStream("reminders_log-1")
	later = later.Add(2 * time.Hour)
	run.When("task-1").
		ThenStream("reminders_log-1", "Reminded").
		ThenStream("reminders_log-2").
		ThenStream("reminders-2", "received:TaskOpened", "scheduled:ReminderDue", "received:TaskClosed", "received:ReminderDue")
	assert.Equal(t, []string{"1"}, reminded)
}
