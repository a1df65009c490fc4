package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/emmett-go/emmett/telemetry"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// serviceName is the service.name of the app's telemetry, unless
// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says
// otherwise.
const serviceName = "shoppingcart"

// setupTelemetry installs the OpenTelemetry SDK as the global tracer and
// meter providers, which Emmett's handlers, stores and processors use when
// given no telemetry.Config, as configured by the standard environment
// variables:
//
//   - OTEL_TRACES_EXPORTER: none (the default), console (spans as JSON on
//     stdout) or otlp (OTLP over HTTP/protobuf);
//   - OTEL_METRICS_EXPORTER: none (the default), console or otlp, exported
//     every OTEL_METRIC_EXPORT_INTERVAL milliseconds (60000);
//   - OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
//     OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, …:
//     where and how OTLP goes (https://localhost:4318 by default; give
//     an http:// endpoint, or OTEL_EXPORTER_OTLP_INSECURE=true, for
//     plain HTTP);
//     OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (the default);
//   - OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES: the resource;
//   - OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_*: read by
//     the SDK itself;
//   - OTEL_SDK_DISABLED=true: nothing is installed.
//
// It also installs the W3C Trace Context and Baggage propagators, for the
// HTTP instrumentation (see instrumentHandler) to continue the traces of
// callers. With no exporter configured, the global providers stay the
// no-op ones and Emmett's instrumentation costs next to nothing.
//
// shutdown flushes what is buffered and stops the exporters; call it
// before the process exits.
func setupTelemetry(ctx context.Context) (shutdown func(context.Context) error, err error) {
	return setupTelemetryTo(ctx, os.Stdout)
}

// setupTelemetryTo is setupTelemetry writing console exports to stdout.
func setupTelemetryTo(ctx context.Context, stdout io.Writer) (shutdown func(context.Context) error, err error) {
	getenv := os.Getenv
	var shutdowns []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		var errs []error
		for i := len(shutdowns) - 1; i >= 0; i-- {
			errs = append(errs, shutdowns[i](ctx))
		}
		shutdowns = nil
		return errors.Join(errs...)
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return shutdown, nil
	}
	traces, err := exporterChoice(getenv, "OTEL_TRACES_EXPORTER")
	if err != nil {
		return shutdown, err
	}
	metrics, err := exporterChoice(getenv, "OTEL_METRICS_EXPORTER")
	if err != nil {
		return shutdown, err
	}
	if traces == "none" && metrics == "none" {
		return shutdown, nil
	}
	if p := otlpProtocol(getenv); (traces == "otlp" || metrics == "otlp") && p != "http/protobuf" {
		return shutdown, fmt.Errorf("telemetry: OTEL_EXPORTER_OTLP_PROTOCOL %q is not supported by the sample app; use http/protobuf", p)
	}
	// Later detectors win: the environment over the default service name.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv())
	if err != nil {
		return shutdown, fmt.Errorf("telemetry: resource: %w", err)
	}

	if traces != "none" {
		var exp sdktrace.SpanExporter
		switch traces {
		case "console":
			exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
		case "otlp":
			exp, err = otlptracehttp.New(ctx)
		}
		if err != nil {
			return shutdown, fmt.Errorf("telemetry: %s trace exporter: %w", traces, err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		shutdowns = append(shutdowns, tp.Shutdown)
		otel.SetTracerProvider(tp)
	}
	if metrics != "none" {
		var exp sdkmetric.Exporter
		switch metrics {
		case "console":
			exp, err = stdoutmetric.New(stdoutmetric.WithWriter(stdout))
		case "otlp":
			exp, err = otlpmetrichttp.New(ctx)
		}
		if err != nil {
			return shutdown, errors.Join(fmt.Errorf("telemetry: %s metric exporter: %w", metrics, err), shutdown(ctx))
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
		shutdowns = append(shutdowns, mp.Shutdown)
		otel.SetMeterProvider(mp)
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return shutdown, nil
}

// exporterChoice reads an OTEL_*_EXPORTER variable: none when unset.
func exporterChoice(getenv func(string) string, name string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(getenv(name)))
	switch v {
	case "", "none":
		return "none", nil
	case "console", "otlp":
		return v, nil
	}
	return "", fmt.Errorf("telemetry: %s=%q: the sample app knows none, console and otlp", name, v)
}

// otlpProtocol is the OTLP protocol asked for; http/protobuf by default.
func otlpProtocol(getenv func(string) string) string {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" && v != "http/protobuf" {
			return v
		}
	}
	return "http/protobuf"
}

// instrumentHandler serves h with a server span per request (continuing
// the caller's trace from its traceparent header) and the HTTP server
// metrics, through the global providers unless opts say otherwise.
// Emmett's command endpoints handle each command in the request's context,
// so the command's spans nest under the request's.
func instrumentHandler(h http.Handler, opts ...otelhttp.Option) http.Handler {
	return otelhttp.NewHandler(h, serviceName, opts...)
}

// newLogger returns a JSON logger writing to w whose records carry the
// trace and span ids of the request they are logged for.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(w, nil)))
}
