"""The gate's own Great Expectations expectations, built so a table's suite costs two Spark jobs.

GX runs each ``UnexpectedRowsExpectation`` as two jobs of its own (the rows, limited, and their
count), and ``expect_compound_columns_to_be_unique`` as a window over the whole table. The two
expectations here do the same checks through GX's metric machinery instead:

- :class:`ExpectNoRowsWhere` counts the rows matching an SQL condition with an aggregate
  *partial* metric. GX's Spark engine bundles every aggregate partial on the same frame into one
  ``df.agg(...)``, so all the row checks of a table, and its row count, are one job.
- :class:`ExpectKeysUnique` counts the rows whose key occurs more than once with one
  ``groupBy`` (GX's built-in counts them with a window over every row).

Both report ``observed_value``, ``unexpected_count`` and ``element_count`` like GX's map
expectations. Sample failing rows are fetched by the gate, only for checks that failed.
Importing this module registers them with GX (its metaclasses register on class creation).
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Sequence, Tuple

from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.core.metric_function_types import MetricPartialFunctionTypes
from great_expectations.execution_engine import ExecutionEngine, SparkDFExecutionEngine
from great_expectations.expectations.expectation import BatchExpectation
from great_expectations.expectations.metrics.metric_provider import metric_partial, metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ROWS_WHERE_COUNT = "lakehouse.rows_where.count"
DUPLICATE_KEY_ROWS = "lakehouse.duplicate_key_rows.count"


class RowsWhereCount(TableMetricProvider):
    """Rows for which the Spark SQL ``condition`` is true (NULL counts as false, as in WHERE)."""

    metric_name = ROWS_WHERE_COUNT
    value_keys = ("condition",)

    @metric_partial(engine=SparkDFExecutionEngine, partial_fn_type=MetricPartialFunctionTypes.AGGREGATE_FN,
                    domain_type=MetricDomainTypes.TABLE)
    def _spark(cls, execution_engine, metric_domain_kwargs: dict, metric_value_kwargs: dict, metrics: Dict[str, Any],
               runtime_configuration: dict):
        return F.count_if(F.coalesce(F.expr(metric_value_kwargs["condition"]), F.lit(False))), metric_domain_kwargs, {}


class DuplicateKeyRows(TableMetricProvider):
    """Rows whose ``column_list`` value occurs on more than one row; rows with every key column
    NULL are left out (GX's ``ignore_row_if="all_values_are_missing"`` default)."""

    metric_name = DUPLICATE_KEY_ROWS
    value_keys = ("column_list",)

    @metric_value(engine=SparkDFExecutionEngine)
    def _spark(cls, execution_engine: SparkDFExecutionEngine, metric_domain_kwargs: dict, metric_value_kwargs: dict,
               metrics: Dict[str, Any], runtime_configuration: dict) -> int:
        df, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)
        counts_df = duplicate_keys(df, metric_value_kwargs["column_list"])
        return int(counts_df.agg(F.coalesce(F.sum("count"), F.lit(0))).first()[0])


def duplicate_keys(df: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Each key of ``columns`` found on more than one row, with its ``count`` of rows."""
    all_missing = F.lit(True)
    for name in columns:
        all_missing = all_missing & F.col(name).isNull()
    return df.filter(~all_missing).groupBy(*columns).count().filter(F.col("count") > 1)


class _UnexpectedRowsCount(BatchExpectation):
    """Succeeds when its first metric, a count of unexpected rows, is 0."""

    domain_keys: ClassVar[Tuple[str, ...]] = ("batch_id", "row_condition", "condition_parser")

    def _validate(self, metrics: Dict, runtime_configuration: Optional[dict] = None,
                  execution_engine: Optional[ExecutionEngine] = None):
        unexpected, rows = int(metrics[self.metric_dependencies[0]]), int(metrics["table.row_count"])
        return {"success": unexpected == 0, "result": {
            "observed_value": unexpected, "unexpected_count": unexpected, "element_count": rows,
            "unexpected_percent": 100.0 * unexpected / rows if rows else 0.0}}


class ExpectNoRowsWhere(_UnexpectedRowsCount):
    """Expect no row of the batch to match ``condition`` (Spark SQL, e.g. ``id IS NULL``)."""

    condition: str
    metric_dependencies: ClassVar[Tuple[str, ...]] = (ROWS_WHERE_COUNT, "table.row_count")
    success_keys: ClassVar[Tuple[str, ...]] = ("condition",)
    args_keys = ("condition",)


class ExpectKeysUnique(_UnexpectedRowsCount):
    """Expect the columns of ``column_list`` together to identify each row."""

    column_list: list[str]
    metric_dependencies: ClassVar[Tuple[str, ...]] = (DUPLICATE_KEY_ROWS, "table.row_count")
    success_keys: ClassVar[Tuple[str, ...]] = ("column_list",)
    args_keys = ("column_list",)
