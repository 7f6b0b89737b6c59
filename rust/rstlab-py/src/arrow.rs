//! Arrow export through the Arrow PyCapsule interface (`__arrow_c_stream__`): pyarrow, polars and
//! pandas (through pyarrow) import it without a copy.

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchIterator};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

/// One Arrow table (a single record batch) owned by Rust until a consumer imports it.
#[pyclass(module = "rstlab._rstlab", frozen)]
pub struct ArrowTable {
    pub batch: RecordBatch,
}

#[pymethods]
impl ArrowTable {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(&self, py: Python<'py>, requested_schema: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the producer's schema is the only one offered
        let schema = self.batch.schema();
        let reader = RecordBatchIterator::new(vec![Ok(self.batch.clone())], schema);
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.batch.schema().fields().iter().map(|f| f.name().clone()).collect()
    }
}

impl ArrowTable {
    pub fn new(batch: RecordBatch) -> Self {
        ArrowTable { batch }
    }
}
