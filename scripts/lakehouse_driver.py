"""The command line as a spark-submit application (the lakehouse package must be installed on the
driver):

    spark-submit [spark options] scripts/lakehouse_driver.py <command> [arguments]

with LAKEHOUSE_SPARK_JARS_SOURCE=provided, so spark-submit's master, memory and jars apply. (The
package's own ``lakehouse/__main__.py`` cannot be submitted: run as a file, its folder would come
first on sys.path and ``lakehouse/delta.py`` would shadow the ``delta`` package.)
"""

import sys

from lakehouse.cli import main

sys.exit(main())
