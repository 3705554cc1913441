// The local stand-in for AWS Step Functions: glue around an existing States
// Language interpreter (the npm package aws-local-stepfunctions), not a second
// one. It runs workflows/order_fulfilment.asl.json as it is, with:
//
// - the ${fn_<name>} placeholders filled with the local function names, and
//   every Task state's Lambda invoke (arn:aws:states:::lambda:invoke) mapped to
//   functions/<name>.py, run by one Python worker (python -m functions.local);
// - the task-token pattern (.waitForTaskToken), which the interpreter lacks:
//   $$.Task.Token is minted here, the wait lasts until SendTaskSuccess or
//   SendTaskFailure names the token (or the state's TimeoutSeconds ends it);
// - the Step Functions API's JSON protocol on a loopback port (StartExecution,
//   DescribeExecution, GetExecutionHistory, StopExecution, SendTaskSuccess,
//   SendTaskFailure, SendTaskHeartbeat), so orders uses the same boto3 client
//   here and on AWS, with an endpoint URL.
//
// Retry, Catch, TimeoutSeconds(Path) and the state machine's TimeoutSeconds are
// the interpreter's own. Executions live in memory: a restart forgets them (the
// orders settler expires what a lost execution leaves behind), and only the
// newest --keep-finished finished ones are kept.
//
// Usage: node server.mjs --definition FILE [--port 0] [--url-file FILE]
//          [--python PYTHON] [--retry-interval-ms N] [--keep-finished N]
//          [--state-machine-arn ARN] [--tools DIR]

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  options: {
    definition: { type: "string" },
    port: { type: "string", default: "0" },
    "url-file": { type: "string" },
    python: { type: "string", default: "python3" },
    "retry-interval-ms": { type: "string" },
    // Finished executions kept for DescribeExecution and GetExecutionHistory.
    "keep-finished": { type: "string", default: "1000" },
    // Where scripts/lib/bootstrap.sh installs the interpreter (node_modules inside).
    tools: { type: "string", default: fileURLToPath(new URL("../../.tools/", import.meta.url)) },
    "state-machine-arn": {
      type: "string",
      default: "arn:aws:states:us-east-1:000000000000:stateMachine:order_fulfilment",
    },
  },
});
if (!opts.definition) {
  process.stderr.write("usage: server.mjs --definition FILE [--port N] [--url-file FILE]\n");
  process.exit(2);
}

// The interpreter asks for Node 22 for Promise.withResolvers alone; Debian's Node 20
// lacks it, so it is supplied here (the standard's semantics, three lines).
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  };
}
const { StateMachine } = createRequire(`${opts.tools}/package.json`)("aws-local-stepfunctions");
const MAX_BODY = 1024 * 1024;

// One JSON line per event, in the mesh's log schema (mesh/logs.py), like every
// other process of scripts/run.
function log(level, message, extra = {}) {
  const line = {
    time: new Date().toISOString(),
    level,
    service: "workflow",
    replica: "0",
    logger: "workflow",
    message,
    ...extra,
  };
  process.stdout.write(JSON.stringify(line) + "\n");
}
// A finished execution keeps its whole event history (some KB): a long run would
// hold every one of them. The oldest finished are forgotten past this many, as
// AWS forgets them after its retention period; running ones are always kept.
const KEEP_FINISHED = Number(opts["keep-finished"]);
if (!Number.isInteger(KEEP_FINISHED) || KEEP_FINISHED < 1 || KEEP_FINISHED > 1000000) {
  process.stderr.write("--keep-finished: an integer in 1..1000000\n");
  process.exit(2);
}
const STATE_MACHINE_ARN = opts["state-machine-arn"];
const EXECUTION_PREFIX = STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + ":";
const NAME = /^[A-Za-z0-9_-]{1,80}$/;

// The definition as Terraform's templatefile() would fill it, with local names.
const text = readFileSync(opts.definition, "utf8").replace(/\$\{fn_([a-z][a-z0-9_]*)\}/g, "$1");
if (text.includes("${")) {
  log("ERROR", "the definition has a placeholder other than ${fn_<name>}");
  process.exit(2);
}
const definition = JSON.parse(text);
// The interpreter resolves a Task's TimeoutSecondsPath against the input after
// Parameters (Step Functions: the state's input), and gives a Task without a
// timeout 60 s (Step Functions: none). So the interpreter gets a copy whose
// TimeoutSecondsPath tasks have a day's timeout, and the wait handler below
// applies the path to the state's own input, as Step Functions does.
const interpreted = structuredClone(definition);
const timeoutPaths = {};
for (const [name, state] of Object.entries(interpreted.States)) {
  if (state.Type === "Task" && state.TimeoutSecondsPath !== undefined) {
    timeoutPaths[name] = state.TimeoutSecondsPath;
    delete state.TimeoutSecondsPath;
    state.TimeoutSeconds = 86400;
  }
}
const machine = new StateMachine(interpreted);

// ---- the Python worker that runs functions/<name>.py -------------------------------

const worker = spawn(opts.python, ["-m", "functions.local"], {
  stdio: ["pipe", "pipe", "inherit"],
  env: process.env,
});
const invocations = new Map();
let nextInvocation = 1;
createInterface({ input: worker.stdout }).on("line", (line) => {
  let reply;
  try {
    reply = JSON.parse(line);
  } catch {
    return;
  }
  const pending = invocations.get(reply.id);
  if (!pending) return;
  invocations.delete(reply.id);
  if (reply.errorType) {
    const error = new Error(reply.errorMessage ?? "");
    error.name = reply.errorType;
    pending.reject(error);
  } else {
    pending.resolve(reply.result ?? {});
  }
});
worker.on("exit", (code) => {
  log("ERROR", `the function worker exited (${code}); stopping`);
  shutdown(1);
});

function invoke(functionName, payload) {
  const id = nextInvocation++;
  return new Promise((resolve, reject) => {
    invocations.set(id, { resolve, reject });
    worker.stdin.write(JSON.stringify({ id, function: functionName, payload }) + "\n");
  });
}

// ---- executions and task tokens ---------------------------------------------------

const executions = new Map(); // arn -> execution record
const finished = new Set(); // arns of finished executions, oldest first
const waits = new Map(); // token -> { execution, state, resolve, reject }

function taskStates() {
  return Object.entries(definition.States).filter(([, s]) => s.Type === "Task");
}

function mintingContext(execution) {
  // The interpreter evaluates $$.Task.Token against this object when the wait
  // state's Parameters are built: each read mints a token for this execution.
  return {
    Task: {
      get Token() {
        const token = randomBytes(48).toString("base64url");
        execution.minted.add(token);
        return token;
      },
    },
  };
}

function tokenIn(value, minted) {
  if (typeof value === "string") return minted.has(value) ? value : null;
  if (value && typeof value === "object") {
    for (const item of Object.values(value)) {
      const found = tokenIn(item, minted);
      if (found) return found;
    }
  }
  return null;
}

// A reference path such as $.a.b (what TimeoutSecondsPath takes) on a JSON value.
function resolvePath(path, value) {
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(path)) return undefined;
  let current = value;
  for (const key of path.split(".").slice(1)) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, key)) {
      return undefined;
    }
    current = current[key];
  }
  return current;
}

function stateError(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

function handlers(execution) {
  const table = {};
  for (const [stateName, state] of taskStates()) {
    const callback = String(state.Resource).endsWith(".waitForTaskToken");
    table[stateName] = async (input) => {
      const fn = input?.FunctionName;
      if (typeof fn !== "string") {
        const error = new Error(`${stateName}: Parameters.FunctionName is missing`);
        error.name = "States.Runtime";
        throw error;
      }
      if (!callback) {
        const result = await invoke(fn, input.Payload ?? {});
        return { ExecutedVersion: "$LATEST", Payload: result, StatusCode: 200 };
      }
      const token = tokenIn(input.Payload, execution.minted);
      if (!token) {
        const error = new Error(`${stateName}: the payload carries no $$.Task.Token`);
        error.name = "States.Runtime";
        throw error;
      }
      let timer;
      const answered = new Promise((resolve, reject) => {
        waits.set(token, { execution: execution.arn, state: stateName, resolve, reject });
      });
      try {
        await invoke(fn, input.Payload);
        const path = timeoutPaths[stateName];
        if (path === undefined) return await answered;
        const seconds = resolvePath(path, execution.entered.get(stateName));
        if (!Number.isInteger(seconds) || seconds < 1) {
          throw stateError("States.Runtime", `${path} is not a positive integer of the state's input`);
        }
        const expired = new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(stateError("States.Timeout", `no answer within ${seconds} s`)),
            seconds * 1000,
          );
        });
        return await Promise.race([answered, expired]);
      } finally {
        clearTimeout(timer);
        waits.delete(token);
      }
    };
  }
  return table;
}

function dropWaits(arn, stateName) {
  for (const [token, wait] of waits) {
    if (wait.execution === arn && (stateName === undefined || wait.state === stateName)) {
      waits.delete(token);
    }
  }
}

function retryOverrides() {
  const ms = opts["retry-interval-ms"];
  if (ms === undefined) return undefined;
  return Object.fromEntries(taskStates().map(([name]) => [name, Number(ms)]));
}

async function follow(execution, run) {
  for await (const event of run.eventLogs) {
    execution.events.push(event);
    if (event.type === "StateEntered") execution.entered.set(event.state.name, event.state.input);
    // A wait ends with its state's attempt (timed out, failed): its token is dead.
    if (event.type === "StateFailed" || event.type === "StateExited") {
      dropWaits(execution.arn, event.state?.name);
    }
  }
}

function start(name, input) {
  const arn = EXECUTION_PREFIX + name;
  const execution = {
    arn,
    name,
    input,
    status: "RUNNING",
    startDate: Date.now() / 1000,
    minted: new Set(),
    entered: new Map(),
    events: [],
  };
  executions.set(arn, execution);
  const run = machine.run(JSON.parse(input), {
    overrides: {
      taskResourceLocalHandlers: handlers(execution),
      retryIntervalOverrides: retryOverrides(),
    },
    context: mintingContext(execution),
    noThrowOnAbort: true,
  });
  execution.abort = run.abort;
  follow(execution, run).catch(() => {});
  run.result.then(
    (output) => {
      if (execution.status !== "RUNNING") return;
      if (output === null && execution.stopping) {
        execution.status = "ABORTED";
      } else {
        execution.status = "SUCCEEDED";
        execution.output = JSON.stringify(output);
      }
      finish(execution);
    },
    (error) => {
      if (execution.status !== "RUNNING") return;
      const timedOut = error?.name === "ExecutionTimeoutError";
      execution.status = timedOut ? "TIMED_OUT" : "FAILED";
      const cause = error?.cause ?? error;
      execution.error = timedOut ? "States.Timeout" : String(cause?.name ?? "Error");
      execution.cause = String(cause?.message ?? "");
      finish(execution);
    },
  );
  log("INFO", "execution started", { execution: name });
  return execution;
}

function finish(execution) {
  execution.stopDate = Date.now() / 1000;
  dropWaits(execution.arn);
  log(execution.status === "SUCCEEDED" ? "INFO" : "WARNING", "execution ended", {
    execution: execution.name,
    status: execution.status,
    ...(execution.error ? { error: execution.error } : {}),
  });
  finished.add(execution.arn);
  for (const arn of finished) {
    if (finished.size <= KEEP_FINISHED) break;
    finished.delete(arn);
    executions.delete(arn);
  }
}

// ---- the Step Functions API (JSON 1.0 protocol) ------------------------------------

class ApiError extends Error {
  constructor(code, message, status = 400) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function str(body, key, { required = true, max = 262144 } = {}) {
  const value = body[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > max) {
    throw new ApiError("ValidationException", `${key}: a string of 1..${max} characters`);
  }
  return value;
}

function execution(body) {
  const arn = str(body, "executionArn", { max: 2048 });
  const found = executions.get(arn);
  if (!found) throw new ApiError("ExecutionDoesNotExist", "no such execution");
  return found;
}

function wait(body) {
  const token = str(body, "taskToken", { max: 8192 });
  const found = waits.get(token);
  if (!found) {
    // What AWS answers for a token whose task is over (answered or timed out).
    throw new ApiError("TaskTimedOut", "the task of this token is over");
  }
  return [token, found];
}

const operations = {
  StartExecution(body) {
    if (str(body, "stateMachineArn", { max: 2048 }) !== STATE_MACHINE_ARN) {
      throw new ApiError("StateMachineDoesNotExist", "no such state machine");
    }
    const name = str(body, "name", { max: 1024 });
    if (!NAME.test(name)) throw new ApiError("InvalidName", "name: 1-80 of A-Z a-z 0-9 _ -");
    const input = str(body, "input", { required: false }) ?? "{}";
    try {
      JSON.parse(input);
    } catch {
      throw new ApiError("InvalidExecutionInput", "input is not JSON");
    }
    const existing = executions.get(EXECUTION_PREFIX + name);
    if (existing) {
      // AWS: the same name and input while running is the same execution.
      if (existing.status === "RUNNING" && existing.input === input) {
        return { executionArn: existing.arn, startDate: existing.startDate };
      }
      throw new ApiError("ExecutionAlreadyExists", "an execution of this name exists");
    }
    const started = start(name, input);
    return { executionArn: started.arn, startDate: started.startDate };
  },
  DescribeExecution(body) {
    const e = execution(body);
    const reply = {
      executionArn: e.arn,
      stateMachineArn: STATE_MACHINE_ARN,
      name: e.name,
      status: e.status,
      startDate: e.startDate,
      input: e.input,
    };
    for (const key of ["stopDate", "output", "error", "cause"]) {
      if (e[key] !== undefined) reply[key] = e[key];
    }
    return reply;
  },
  GetExecutionHistory(body) {
    // The interpreter's events in AWS's shape where one exists.
    const e = execution(body);
    const events = e.events.map((event, i) => {
      const entry = { id: i + 1, previousEventId: i, timestamp: event.timestamp / 1000 };
      const state = event.state ?? {};
      if (event.type === "StateEntered") {
        entry.type = `${state.type}StateEntered`;
        entry.stateEnteredEventDetails = { name: state.name };
      } else if (event.type === "StateExited") {
        entry.type = `${state.type}StateExited`;
        entry.stateExitedEventDetails = { name: state.name };
      } else if (event.type === "StateFailed" && state.type !== "Task") {
        return null; // a Fail state: ExecutionFailed follows
      } else if (event.type === "StateFailed") {
        entry.type = "TaskFailed";
        entry.taskFailedEventDetails = {
          resourceType: "lambda",
          resource: state.name,
          error: String(event.Error ?? ""),
          cause: String(event.Cause ?? ""),
        };
      } else {
        entry.type = event.type;
      }
      return entry;
    });
    return { events: events.filter((entry) => entry !== null) };
  },
  StopExecution(body) {
    const e = execution(body);
    if (e.status === "RUNNING") {
      e.stopping = true;
      e.status = "ABORTED";
      e.error = str(body, "error", { required: false, max: 256 });
      e.cause = str(body, "cause", { required: false, max: 32768 });
      e.abort();
      finish(e);
    }
    return { stopDate: e.stopDate ?? Date.now() / 1000 };
  },
  SendTaskSuccess(body) {
    const [token, w] = wait(body);
    const output = str(body, "output");
    let parsed;
    try {
      parsed = JSON.parse(output);
    } catch {
      throw new ApiError("InvalidOutput", "output is not JSON");
    }
    waits.delete(token);
    w.resolve(parsed);
    return {};
  },
  SendTaskFailure(body) {
    const [token, w] = wait(body);
    const error = new Error(str(body, "cause", { required: false, max: 32768 }) ?? "");
    error.name = str(body, "error", { required: false, max: 256 }) ?? "States.TaskFailed";
    waits.delete(token);
    w.reject(error);
    return {};
  },
  SendTaskHeartbeat(body) {
    wait(body);
    return {};
  },
};

function answer(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/x-amz-json-1.0",
    "content-length": Buffer.byteLength(data),
  });
  res.end(data);
}

const server = createServer((req, res) => {
  const target = String(req.headers["x-amz-target"] ?? "");
  const operation = target.startsWith("AWSStepFunctions.") ? target.slice(17) : "";
  let size = 0;
  const chunks = [];
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      answer(res, 413, { __type: "ValidationException", message: "request too large" });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (res.writableEnded) return;
    try {
      if (req.method !== "POST" || !Object.hasOwn(operations, operation)) {
        throw new ApiError("UnknownOperationException", `unknown operation ${operation}`);
      }
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      } catch {
        throw new ApiError("SerializationException", "the body is not JSON");
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) {
        throw new ApiError("SerializationException", "the body must be a JSON object");
      }
      answer(res, 200, operations[operation](body));
    } catch (error) {
      if (error instanceof ApiError) {
        answer(res, error.status, { __type: error.code, message: error.message });
      } else {
        log("ERROR", "internal error", { error: String(error?.stack ?? error) });
        answer(res, 500, { __type: "InternalFailure", message: "internal error" });
      }
    }
  });
});

let stopping = false;
function shutdown(code = 0) {
  if (stopping) return;
  stopping = true;
  if (opts["url-file"]) rmSync(opts["url-file"], { force: true });
  server.close();
  worker.kill("SIGTERM");
  setTimeout(() => process.exit(code), 200).unref();
}
// The interpreter can leave a task's promise behind when the state fails around
// it; such a rejection is the task's, already recorded in the execution.
process.on("unhandledRejection", (error) => {
  log("WARNING", "a task ended after its state", { error: `${error?.name}: ${error?.message}` });
});
process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));

server.listen(Number(opts.port), "127.0.0.1", () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  if (opts["url-file"]) {
    const temp = `${opts["url-file"]}.tmp`;
    writeFileSync(temp, url + "\n");
    renameSync(temp, opts["url-file"]);
  }
  log("INFO", `Step Functions API (local interpreter) on ${url}`, { url });
});
