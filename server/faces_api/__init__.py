"""Face tools over REST for API clients (what Rekognition and CompreFace users expect):
`compare` (two pictures -> every face pair, decided at the deployment's 1:1 threshold) and `api`
(`POST /api/v1/faces/compare`). The models are the server's one shared analyzer
(`server.faces.analyzer.face_analyzer`), never loaded a second time."""
