package spec_test

import (
	"fmt"
	"time"

	"github.com/emmett-go/emmett/testing/spec"
	"github.com/emmett-go/emmett/workflow"
)

// A workflow spec: the inputs an instance handled, the next one, and the
// outputs it must decide.
func ExampleForWorkflow() {
	t := &exampleT{} // in a real test, the *testing.T of the test function

	spec.ForWorkflow(t, reminders).
		Given(TaskOpened{TaskID: "7"}).
		When(ReminderDue{TaskID: "7"}).
		Then(
			workflow.Output[TaskInput, TaskOutput]{Send: Remind{TaskID: "7"}},
			workflow.Output[TaskInput, TaskOutput]{Publish: Reminded{TaskID: "7"}, To: "reminders_log-7"},
		)

	spec.ForWorkflow(t, reminders).
		When(TaskOpened{TaskID: "7"}).
		Then(workflow.Output[TaskInput, TaskOutput]{Schedule: ReminderDue{TaskID: "7"}, After: time.Hour})

	spec.ForWorkflow(t, reminders).
		Given(TaskOpened{TaskID: "7"}, TaskClosed{TaskID: "7"}).
		When(ReminderDue{TaskID: "7"}).
		ThenNothing()
	fmt.Println("failed:", t.failed)
	// Output:
	// failed: false
}
