package replication_test

const childEnv = "EMMETT_REPLICATION_CHILD"

func childMain() int { return 0 }
